from distill.cli.serve import main

if __name__ == "__main__":  # not when a child process of the server imports this module
    main()
