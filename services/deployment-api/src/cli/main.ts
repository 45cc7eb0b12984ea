// deployctl's executable: runs the command (deployctl.ts) with this process's arguments and turns its outcome into
// an exit code and one line on stderr. `node src/cli/main.ts` in development; deployctl.js in the image; the
// standalone deployctl binary of `make release`.
import { ConnectError } from '@connectrpc/connect';

import { codeName } from '../connect-code.ts';
import { run } from './deployctl.ts';

run(process.argv.slice(2), process.env, (s) => process.stdout.write(s)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConnectError) {
      process.stderr.write(`deployctl: ${codeName(err.code)}: ${err.rawMessage}\n`);
      process.exit(1);
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`deployctl: ${message}\n`);
    process.exit(2);
  },
);
