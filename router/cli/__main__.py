from router.cli.main import run

run()
