/** A call to GitLab, Rocket.Chat, Kubernetes or git that failed: says which call and what came back. */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  readonly system: string;
  readonly status: number | undefined;

  constructor(system: string, call: string, status: number | undefined, detail: string) {
    super(
      `${system} ${status === undefined ? 'failed' : `answered ${status}`} to ${call}${detail ? `: ${detail}` : ''}`,
    );
    this.system = system;
    this.status = status;
  }
}
