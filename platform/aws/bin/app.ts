// The `cdk` CLI's entry (cdk.json: "app"): settings from context, then synth. See ../README.md.
import { App } from 'aws-cdk-lib';

import { buildApp, settingsFromContext } from '../src/app.ts';

const app = new App();
buildApp(
  settingsFromContext((key) => app.node.tryGetContext(key)),
  app,
);
app.synth();
