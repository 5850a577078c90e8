from distill.cli.serve import main

main()
