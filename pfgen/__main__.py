from pfgen.cli.main import main

main()
