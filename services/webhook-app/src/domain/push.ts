// GitLab push and tag push events: what they mean and the message they become. Pure functions.
import { Type, type Static } from '@sre-platform/service-kit';

const Sha = '^[0-9a-f]{40}([0-9a-f]{24})?$';

const Commit = Type.Object({
  // Hex only: it lands in the message inside a code span.
  id: Type.String({ pattern: '^[0-9a-f]{7,64}$' }),
  title: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
  author: Type.Optional(Type.Object({ name: Type.Optional(Type.String()), email: Type.Optional(Type.String()) })),
});

/** The fields we use from GitLab's Push Hook and Tag Push Hook bodies; everything else passes through. */
export const PushEventSchema = Type.Object({
  object_kind: Type.Union([Type.Literal('push'), Type.Literal('tag_push')]),
  ref: Type.String({ minLength: 1, maxLength: 1024 }),
  before: Type.String({ pattern: Sha }),
  after: Type.String({ pattern: Sha }),
  checkout_sha: Type.Optional(Type.Union([Type.String({ pattern: Sha }), Type.Null()])),
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
/**
 * Text from the push that GitLab copied from users (commit titles, author and pusher names, the
 * project path) is shown as text, never as markup. Rocket.Chat's message syntax is markdown-like:
 * `code`, *bold*, _italic_, ~strike~, [text](url), <url|text> links and @mentions (@all and @here
 * notify everyone in the room). Each character that opens one of these is replaced by a look-alike
 * that Rocket.Chat does not parse, so the text still reads the same and cannot format, link or
 * notify. Line breaks and other whitespace become one space (the message's lines are ours), and
 * control characters (which PostgreSQL's text type or a terminal would choke on) become U+FFFD.
 */
const LOOK_ALIKE: Record<string, string> = {
  '`': '\u02cb', // modifier letter grave accent
  '*': '\u2217', // asterisk operator
  _: '\u02cd', // modifier letter low macron
  '~': '\u223c', // tilde operator
  '[': '\uff3b', // fullwidth square brackets
  ']': '\uff3d',
  '<': '\u2039', // single angle quotation marks
  '>': '\u203a',
  '|': '\u2223', // divides
  '@': '\uff20', // fullwidth commercial at: no mention, no @all or @here
};
const MARKUP = /[`*_~[\]<>|@]/g;
/** C0 and C1 control characters (in plain() whitespace among them is flattened first). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL = new RegExp(CONTROL_CHARACTER.source, 'g');
/** What git refuses in a ref name, and HTTP in a header value: C0 control characters and DEL. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const C0_OR_DEL = /[\u0000-\u001f\u007f]/;

/**
 * Why an identifier (a ref, a project path, an idempotency key) cannot be stored and shown verbatim:
 * a C0 control character or DEL (git, GitLab and HTTP never send one there; PostgreSQL's text type
 * refuses NUL) or a lone UTF-16 surrogate (JSON can encode one; UTF-8, and so PostgreSQL, cannot).
 * Undefined when it can.
 */
export function unstorable(text: string): string | undefined {
  if (C0_OR_DEL.test(text)) return 'contains a control character';
  if (!text.isWellFormed()) return 'contains an unpaired UTF-16 surrogate';
  return undefined;
}

/** User text as one line of plain text, at most `max` characters. */
export function plain(text: string, max = 72): string {
  const oneLine = text
    .toWellFormed()
    .replace(/\s+/g, ' ')
    .replace(CONTROL, '\ufffd')
    .replace(MARKUP, (c) => LOOK_ALIKE[c]!)
    .trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/**
 * A ref name inside a code span: only a backtick can end the span (markup is not parsed inside it),
 * so only backticks are replaced. Git allows backticks in ref names; it forbids control characters,
 * which the webhook refuses before this point.
 */
const inCode = (text: string) =>
  `\`${text.toWellFormed().replace(/`/g, LOOK_ALIKE['`']!).replace(CONTROL, '\ufffd')}\``;

/** A link target we can put in [text](url): http(s), printable ASCII, nothing that could end the link early. */
const safeUrl = (url: string | undefined) => (url && /^https?:\/\/[!#-'*-;=?-Z^_a-z{}~]+$/.test(url) ? url : undefined);

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
  /** Delivered by a system hook, which never carries commits (GitLab sends `commits: []`). */
  commitsHidden: boolean;
}

export function summarize(event: PushEvent, options: { systemHook?: boolean } = {}): PushSummary {
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
    projectUrl: safeUrl(event.project.web_url),
    totalCommits: Math.max(event.total_commits_count, event.commits.length),
    // GitLab lists commits oldest first; the newest matter most in a chat message.
    commits: [...event.commits].reverse().map((c) => ({
      sha: c.id,
      title: plain(c.title ?? c.message?.split('\n', 1)[0] ?? ''),
      author: c.author?.name,
    })),
    commitsHidden: options.systemHook === true && event.commits.length === 0,
  };
}

export function renderMessage(s: PushSummary): string {
  const project = s.projectUrl ? `[${plain(s.project, 200)}](${s.projectUrl})` : plain(s.project, 200);
  const ref = `${s.kind} ${inCode(s.refName)}`;
  const who = `*${plain(s.pusher, 64) || 'someone'}*`;
  if (s.deleted) {
    return `${who} deleted ${ref} of ${project}${s.previousSha ? ` (was \`${s.previousSha}\`)` : ''}`;
  }
  const head = s.headSha ?? '';
  const link = s.projectUrl ? ` ([view](${s.projectUrl}/-/commit/${head}))` : '';
  if (s.kind === 'tag') {
    return `${who} ${s.created ? 'pushed new' : 'moved'} ${ref} of ${project} at \`${head}\`${link}`;
  }
  if (s.commitsHidden) {
    // A system hook: GitLab sends no commits and no count, so say nothing about them.
    return `${who} ${s.created ? 'created' : 'pushed to'} ${ref} of ${project}, head \`${head}\`${link}`;
  }
  if (s.totalCommits === 0) {
    return `${who} ${s.created ? 'created' : 'pushed to'} ${ref} of ${project} at \`${head}\`${link} (no new commits)`;
  }
  const n = s.totalCommits;
  const lines = [
    `${who} ${s.created ? 'created' : 'pushed to'} ${ref} of ${project}: ${n} commit${n === 1 ? '' : 's'}, head \`${head}\`${link}`,
  ];
  const listed = s.commits.slice(0, LISTED_COMMITS);
  for (const c of listed) {
    const author = c.author ? plain(c.author, 40) : '';
    lines.push(`- \`${short(c.sha)}\` ${c.title}${author ? ` (${author})` : ''}`);
  }
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
