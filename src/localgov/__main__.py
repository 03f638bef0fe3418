from localgov.cli import main

raise SystemExit(main())
