"""``python -m deltaprop`` is the ``deltaprop`` command."""

from .cli import main

raise SystemExit(main())
