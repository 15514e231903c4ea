"""The abstract interpreter: facts about tensor-valued expressions (shape, dtype, device) and
roles of names. Rules read these facts; they never re-derive them."""
