from smartshelf.cli import main

raise SystemExit(main())
