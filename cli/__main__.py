from tickpipe.cli.main import main

main()
