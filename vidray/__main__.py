from vidray.cli import main

raise SystemExit(main())
