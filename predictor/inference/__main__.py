from predictor.inference.server import main

main()
