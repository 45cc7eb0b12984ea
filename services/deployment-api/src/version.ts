// The version deployment-api and deployctl report: APP_VERSION when set (the chart sets the image tag), else the
// one a bundle was built with (tools/build/bundle.ts defines __SRE_PLATFORM_VERSION__: the release's tag in
// `make release`), else the package's in development.
declare const __SRE_PLATFORM_VERSION__: string | undefined;

const BUILT = typeof __SRE_PLATFORM_VERSION__ === 'string' ? __SRE_PLATFORM_VERSION__ : undefined;

export const VERSION: string = process.env['APP_VERSION'] ?? BUILT ?? '0.1.0-dev';
