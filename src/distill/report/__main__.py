from distill.cli.report import main

main()
