#!/usr/bin/env node
// `make webhook-bootstrap` / `node platform/bootstrap/src/main.ts`: wires a fresh GitLab and
// Rocket.Chat for webhook-app (see README.md). Configuration from the environment only; prints one
// line per step and never a secret; exit 0 when every step is done, 1 when one failed or the
// configuration is invalid (re-run after fixing: finished steps report `unchanged`).
import { ConfigError } from '@sre-platform/service-kit';

import { GitClient } from './adapters/git.ts';
import { GitlabClient } from './adapters/gitlab.ts';
import { KubeClient } from './adapters/kube.ts';
import { RocketChatClient } from './adapters/rocketchat.ts';
import { bootstrap, Run } from './bootstrap.ts';
import { readConfig, type Config } from './config.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  if (process.argv.length > 2) {
    process.stderr.write('bootstrap: takes no arguments; configure it with environment variables (README.md)\n');
    return 1;
  }
  let config: Config;
  try {
    config = readConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`bootstrap: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const run = new Run(config, out);
  run.print(
    `bootstrap: GitLab ${config.GITLAB_URL} project ${config.GITLAB_PROJECT}, Rocket.Chat ${config.ROCKETCHAT_URL}, ` +
      `runner Secret ${config.RUNNER_NAMESPACE}/${config.RUNNER_SECRET_NAME}`,
  );
  const git = new GitClient(config.GITLAB_TOKEN, config.REQUEST_TIMEOUT_MS);
  const rocketchat = new RocketChatClient(config.ROCKETCHAT_URL, config.REQUEST_TIMEOUT_MS);
  try {
    await bootstrap(run, {
      gitlab: new GitlabClient(config.GITLAB_URL, config.GITLAB_TOKEN, config.REQUEST_TIMEOUT_MS),
      rocketchat,
      kube: new KubeClient(),
      git,
    });
    const count = (o: string) => run.reports.filter((r) => r.outcome === o).length;
    run.print(
      `bootstrap: done: ${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged`,
    );
    return 0;
  } catch (err) {
    run.print(`bootstrap: FAILED ${(err as Error).message}`);
    run.print('bootstrap: the steps before it are done; fix the cause and run again (done steps report unchanged)');
    return 1;
  } finally {
    git.close();
    await rocketchat.close();
  }
}

process.exitCode = await main();
