from shapecheck.server import main

main()
