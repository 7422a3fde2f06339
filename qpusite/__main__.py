from qpusite.cli import main

raise SystemExit(main())
