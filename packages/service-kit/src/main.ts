// runMain(): the top of every service's src/main.ts. Turns a bad configuration into one line on
// stderr and exit 1, and SIGTERM/SIGINT into a graceful shutdown and exit 0. `--version` prints the name and version
// and exits 0 without starting: by then every module the service imports has been evaluated, so an image build
// runs it to fill the bundle's compile cache (tools/build/bundle.ts, loader()) with what a start compiles first.
import { ConfigError } from './config.ts';

export interface Stoppable {
  shutdown(reason: string): Promise<boolean>;
}

export function runMain(name: string, version: string, main: () => Promise<Stoppable>): void {
  if (process.argv[2] === '--version') {
    process.stdout.write(`${name} ${version}\n`);
    process.exit(0);
  }
  main().then(
    (service) => {
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals += 1;
        if (signals > 1) {
          process.stderr.write(`${name}: second ${signal}, exiting without waiting for the drain\n`);
          process.exit(130);
        }
        service.shutdown(signal).then(
          (drained) => process.exit(drained ? 0 : 1),
          (err: unknown) => {
            process.stderr.write(`${name}: shutdown failed: ${String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    },
    (err: unknown) => {
      if (err instanceof ConfigError) process.stderr.write(`${name}: ${err.message}\n`);
      else
        process.stderr.write(
          `${name}: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
        );
      process.exit(1);
    },
  );
}
