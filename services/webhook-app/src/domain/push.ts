// GitLab push and tag push events: what they mean and the message they become. Pure functions.
import { Type, type Static } from '@sre-platform/service-kit';

const Commit = Type.Object({
  id: Type.String({ minLength: 7 }),
  title: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
  author: Type.Optional(Type.Object({ name: Type.Optional(Type.String()), email: Type.Optional(Type.String()) })),
});

/** The fields we use from GitLab's Push Hook and Tag Push Hook bodies; everything else passes through. */
export const PushEventSchema = Type.Object({
  object_kind: Type.Union([Type.Literal('push'), Type.Literal('tag_push')]),
  ref: Type.String({ minLength: 1, maxLength: 1024 }),
  before: Type.String({ pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$' }),
  after: Type.String({ pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$' }),
  checkout_sha: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  user_name: Type.Optional(Type.String()),
  user_username: Type.Optional(Type.String()),
  user_email: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  project: Type.Object({
    path_with_namespace: Type.String({ minLength: 1 }),
    web_url: Type.Optional(Type.String()),
  }),
  commits: Type.Array(Commit, { maxItems: 100 }),
  total_commits_count: Type.Integer({ minimum: 0 }),
});
export type PushEvent = Static<typeof PushEventSchema>;

/** How many commit SHAs a message lists before "and N more". */
export const LISTED_COMMITS = 10;

const zero = (sha: string) => /^0+$/.test(sha);
const short = (sha: string) => sha.slice(0, 8);
/** Commit titles and names are user input: keep them from breaking the message's markdown. */
const plain = (text: string, max = 72) => {
  const oneLine = text
    .replace(/[`*_~[\]]/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
};

export interface PushSummary {
  kind: 'branch' | 'tag';
  refName: string;
  created: boolean;
  deleted: boolean;
  /** The new head: checkout_sha, else after; absent for a deletion. */
  headSha?: string;
  previousSha?: string;
  pusher: string;
  project: string;
  projectUrl?: string;
  totalCommits: number;
  commits: { sha: string; title: string; author?: string }[];
}

export function summarize(event: PushEvent): PushSummary {
  const kind = event.object_kind === 'tag_push' || event.ref.startsWith('refs/tags/') ? 'tag' : 'branch';
  const refName = event.ref.replace(/^refs\/(heads|tags)\//, '');
  const deleted = zero(event.after);
  const created = zero(event.before);
  return {
    kind,
    refName,
    created,
    deleted,
    headSha: deleted ? undefined : (event.checkout_sha ?? event.after),
    previousSha: created ? undefined : event.before,
    pusher: event.user_username ?? event.user_name ?? 'someone',
    project: event.project.path_with_namespace,
    projectUrl: event.project.web_url,
    totalCommits: Math.max(event.total_commits_count, event.commits.length),
    // GitLab lists commits oldest first; the newest matter most in a chat message.
    commits: [...event.commits].reverse().map((c) => ({
      sha: c.id,
      title: plain(c.title ?? c.message?.split('\n', 1)[0] ?? ''),
      author: c.author?.name,
    })),
  };
}

export function renderMessage(s: PushSummary): string {
  const project = s.projectUrl ? `[${s.project}](${s.projectUrl})` : s.project;
  const ref = `${s.kind} \`${s.refName}\``;
  const who = `*${plain(s.pusher, 64)}*`;
  if (s.deleted) {
    return `${who} deleted ${ref} of ${project}${s.previousSha ? ` (was \`${s.previousSha}\`)` : ''}`;
  }
  const head = s.headSha ?? '';
  const link = s.projectUrl ? ` ([view](${s.projectUrl}/-/commit/${head}))` : '';
  if (s.kind === 'tag') {
    return `${who} ${s.created ? 'pushed new' : 'moved'} ${ref} of ${project} at \`${head}\`${link}`;
  }
  if (s.totalCommits === 0) {
    return `${who} ${s.created ? 'created' : 'pushed to'} ${ref} of ${project} at \`${head}\`${link} (no new commits)`;
  }
  const n = s.totalCommits;
  const lines = [
    `${who} ${s.created ? 'created' : 'pushed to'} ${ref} of ${project}: ${n} commit${n === 1 ? '' : 's'}, head \`${head}\`${link}`,
  ];
  const listed = s.commits.slice(0, LISTED_COMMITS);
  for (const c of listed) lines.push(`- \`${short(c.sha)}\` ${c.title}${c.author ? ` (${plain(c.author, 40)})` : ''}`);
  if (n > listed.length) lines.push(`- and ${n - listed.length} more`);
  return lines.join('\n');
}

export interface RecipientRules {
  defaultRecipient: string;
  /** GitLab project path (group/project) -> Rocket.Chat username. */
  byProject: Record<string, string>;
  /** Commit author or pusher e-mail -> Rocket.Chat username. */
  byAuthorEmail: Record<string, string>;
}

/** Project override first, then the head commit's author, then the pusher, then the default. */
export function recipientFor(event: PushEvent, rules: RecipientRules): string {
  const byProject = rules.byProject[event.project.path_with_namespace];
  if (byProject) return byProject;
  const headCommit = event.commits.find((c) => c.id === (event.checkout_sha ?? event.after)) ?? event.commits.at(-1);
  for (const email of [headCommit?.author?.email, event.user_email ?? undefined]) {
    const match = email ? rules.byAuthorEmail[email.toLowerCase()] : undefined;
    if (match) return match;
  }
  return rules.defaultRecipient;
}
