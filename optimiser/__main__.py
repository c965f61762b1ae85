from optimiser.cli import main

main(prog_name="aidopt")
