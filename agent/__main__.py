"""python -m agent -> the tagih CLI."""

from agent.cli import main

if __name__ == "__main__":
    main()
