from pfgen.entry import main

main()
