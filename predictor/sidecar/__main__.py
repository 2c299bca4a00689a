from predictor.sidecar.main import main

main()
