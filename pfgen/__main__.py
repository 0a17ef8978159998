from pfgen.cli.entry import main

main()
