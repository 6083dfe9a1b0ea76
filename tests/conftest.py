"""Exists so that `import helpers` works in every test folder: pytest's default ("prepend")
import mode puts the folder of each conftest.py on sys.path before collecting the tests."""
