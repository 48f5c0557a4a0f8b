// The console's 404 page: the shared shell only (navigation, sign-out, shortcuts).

import { startShell } from "../shell.js";

startShell();
