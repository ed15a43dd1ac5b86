"""``python -m cli ...`` == ``lt ...`` (handy under torchrun)."""

from .main import main

main()
