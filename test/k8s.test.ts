/**
 * Static checks of the Kubernetes manifests in deploy/k8s (no cluster, no network): every file of
 * the kustomization parses, and the objects refer to each other consistently (selectors, Services,
 * Ingress backends, HPA/PDB targets, ConfigMap and Secret references, probes, volumes), and the
 * app reaches Redis and PostgreSQL through Services that only it is let through to.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse, parseAllDocuments } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../server/config.js';

type Labels = Record<string, string>;
interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[] };
}
interface Probe {
  httpGet?: { path?: string; port?: string | number };
  exec?: { command?: string[] };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command?: string[] }; sleep?: { seconds: number }; httpGet?: unknown } };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: SecurityContext;
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string }; emptyDir?: object }[];
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
}
interface WorkloadSpec {
  replicas?: number;
  selector: LabelSelector;
  serviceName?: string;
  strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string } };
  template: { metadata: { labels?: Labels }; spec: PodSpec };
  volumeClaimTemplates?: { metadata: { name: string } }[];
}
interface ServiceSpec {
  clusterIP?: string;
  selector?: Labels;
  ports: { name?: string; port: number; targetPort?: string | number }[];
}
interface IngressBackend {
  service: { name: string; port: { name?: string; number?: number } };
}
interface IngressSpec {
  ingressClassName?: string;
  defaultBackend?: IngressBackend;
  rules?: { host?: string; http?: { paths: { path?: string; pathType: string; backend: IngressBackend }[] } }[];
}
interface HpaSpec {
  scaleTargetRef: { apiVersion: string; kind: string; name: string };
  minReplicas?: number;
  maxReplicas: number;
  metrics?: { type: string; resource?: { name: string; target: { type: string; averageUtilization?: number } } }[];
}
interface PdbSpec {
  minAvailable?: number | string;
  maxUnavailable?: number | string;
  selector: LabelSelector;
}
interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes?: string[];
  ingress?: { from?: { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: unknown }[]; ports?: { port?: string | number; protocol?: string }[] }[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Record<string, string> };
  spec?: unknown;
  data?: Record<string, unknown>;
  stringData?: Record<string, string>;
  /** The file it came from (added here). */
  file: string;
}
interface Kustomization {
  namespace?: string;
  resources?: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

const dir = new URL('../deploy/k8s/', import.meta.url);
const APP_IMAGE = 'taxi-dispatch';
const SECRET = { name: 'dispatch-secrets', key: 'JWT_SECRET' };
const DATABASE_SECRET = { name: 'dispatch-secrets', key: 'DATABASE_URL' };
/** The Secret's shape, with example values (never applied: not in the kustomization). */
const secretExample = parse(readFileSync(new URL('secret.example.yaml', dir), 'utf8')) as Omit<K8sObject, 'file'>;

/** matchLabels / matchExpressions against a pod's labels (an empty selector matches nothing here). */
function selects(s: LabelSelector | undefined, labels: Labels = {}): boolean {
  if (!s) return false;
  const ml = Object.entries(s.matchLabels ?? {});
  const me = s.matchExpressions ?? [];
  if (ml.length === 0 && me.length === 0) return false;
  return (
    ml.every(([k, v]) => labels[k] === v) &&
    me.every((e) => {
      const has = e.key in labels;
      if (e.operator === 'In') return has && (e.values ?? []).includes(labels[e.key]!);
      if (e.operator === 'NotIn') return !has || !(e.values ?? []).includes(labels[e.key]!);
      if (e.operator === 'Exists') return has;
      if (e.operator === 'DoesNotExist') return !has;
      throw new Error(`unknown operator ${e.operator}`);
    })
  );
}

/** Whether an Ingress path of this type would send `url` to its backend. */
function routes(path: string, pathType: string, url: string): boolean {
  if (pathType === 'Exact') return path === url;
  // Prefix (and ImplementationSpecific, taken as a prefix): element-wise.
  const p = path.replace(/\/+$/, '');
  return p === '' || url === p || url.startsWith(`${p}/`);
}

/** "16k" / "1m" / "512" → bytes, as nginx reads a size. */
function nginxSize(s: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(s.trim());
  if (!m) throw new Error(`not an nginx size: ${s}`);
  const unit = m[2]!.toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
}

describe('kubernetes manifests (deploy/k8s)', () => {
  const kustomization = parse(readFileSync(new URL('kustomization.yaml', dir), 'utf8')) as Kustomization;
  const files = kustomization.resources ?? [];
  const objects: K8sObject[] = [];
  for (const file of files) {
    if (!existsSync(new URL(file, dir))) continue; // reported by the first test
    for (const doc of parseAllDocuments(readFileSync(new URL(file, dir), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const js = doc.toJS() as Omit<K8sObject, 'file'> | null;
      if (js) objects.push({ ...js, file });
    }
  }

  const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  const wspec = (o: K8sObject) => o.spec as WorkloadSpec;
  const podLabels = (o: K8sObject) => wspec(o).template.metadata.labels ?? {};
  const podSpec = (o: K8sObject) => wspec(o).template.spec;
  const containers = (o: K8sObject) => [...(podSpec(o).initContainers ?? []), ...podSpec(o).containers];
  const appWorkloads = workloads.filter((w) => podSpec(w).containers.some((c) => c.image?.split(':')[0] === APP_IMAGE));
  const appContainer = (o: K8sObject) => podSpec(o).containers.find((c) => c.image?.split(':')[0] === APP_IMAGE)!;
  const workload = (kind: string, name: string) => {
    const w = find(kind, name);
    expect(w, `${kind} ${name}`).to.not.equal(undefined);
    return w!;
  };
  const roleOf = (o: K8sObject) => appContainer(o).env?.find((e) => e.name === 'ROLE')?.value;
  const byRole = (role: string) => {
    const w = appWorkloads.find((o) => roleOf(o) === role);
    expect(w, `a workload with ROLE=${role}`).to.not.equal(undefined);
    return w!;
  };
  const configMap = () => {
    const maps = ofKind('ConfigMap');
    expect(maps, 'one ConfigMap').to.have.length(1);
    return maps[0]!;
  };

  describe('kustomization', () => {
    it('lists only files that exist, each parsing to Kubernetes objects', () => {
      expect(files).to.have.length.of.at.least(5);
      for (const file of files) {
        expect(existsSync(new URL(file, dir)), file).to.equal(true);
        const own = objects.filter((o) => o.file === file);
        expect(own, `${file} has objects`).to.have.length.of.at.least(1);
        for (const o of own) {
          expect(o.apiVersion, `${file}: apiVersion`).to.be.a('string');
          expect(o.kind, `${file}: kind`).to.be.a('string');
          expect(o.metadata?.name, `${file}: ${o.kind} name`).to.be.a('string');
        }
      }
    });

    it('puts everything in the namespace `dispatch`, which it also creates', () => {
      expect(kustomization.namespace).to.equal('dispatch');
      expect(find('Namespace', 'dispatch'), 'Namespace dispatch').to.not.equal(undefined);
      for (const o of objects) if (o.metadata.namespace !== undefined) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).to.equal('dispatch');
    });

    it('has no duplicate objects and no Secret (the Secret is created by hand)', () => {
      const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(new Set(ids).size, ids.join(', ')).to.equal(ids.length);
      expect(ofKind('Secret')).to.have.length(0);
      expect(files).to.not.include('secret.example.yaml');
      expect(secretExample.kind).to.equal('Secret');
      expect(secretExample.metadata.name).to.equal(SECRET.name);
      expect(secretExample.stringData).to.have.all.keys('JWT_SECRET', 'DATABASE_URL', 'POSTGRES_PASSWORD');
    });

    it('takes every Secret value from dispatch-secrets, by a key its example has', () => {
      const refs = workloads.flatMap((w) => containers(w).flatMap((c) => (c.env ?? []).map((e) => ({ where: `${w.metadata.name}/${c.name} ${e.name}`, ref: e.valueFrom?.secretKeyRef }))));
      expect(refs.filter((r) => r.ref)).to.have.length.of.at.least(5);
      for (const { where, ref } of refs) {
        if (!ref) continue;
        expect(ref.name, where).to.equal(SECRET.name);
        expect(secretExample.stringData, where).to.have.property(ref.key);
      }
    });

    it('rewrites the app image with `images:`', () => {
      expect((kustomization.images ?? []).map((i) => i.name)).to.include(APP_IMAGE);
      expect(appWorkloads.map((w) => w.metadata.name)).to.have.members(['gateway', 'dispatcher']);
    });

    it('builds with `kubectl kustomize` when kubectl is installed', function () {
      const r = spawnSync('kubectl', ['kustomize', new URL('.', dir).pathname], { encoding: 'utf8', timeout: 30000 });
      if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') this.skip();
      expect(r.status, r.stderr).to.equal(0);
      const built = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean);
      expect(built).to.have.length(objects.length);
      for (const o of built) {
        if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).to.equal('dispatch');
      }
      const images = built.flatMap((o) => (o.kind === 'Deployment' ? wspec(o).template.spec.containers.map((c) => c.image) : []));
      expect(images.every((i) => i !== APP_IMAGE), 'app image rewritten').to.equal(true);
    });
  });

  describe('cross-references', () => {
    it('gives each workload a selector that matches its own pod labels', () => {
      expect(workloads.length).to.be.at.least(3);
      for (const w of workloads) expect(selects(wspec(w).selector, podLabels(w)), `${w.kind} ${w.metadata.name}`).to.equal(true);
    });

    it('selects with each Service exactly one workload, whose pods have the target port', () => {
      for (const svc of ofKind('Service')) {
        const spec = svc.spec as ServiceSpec;
        const targets = workloads.filter((w) => selects({ matchLabels: spec.selector }, podLabels(w)));
        expect(targets, `Service ${svc.metadata.name} selects one workload`).to.have.length(1);
        const ports = containers(targets[0]!).flatMap((c) => c.ports ?? []);
        for (const p of spec.ports) {
          const target = p.targetPort ?? p.port;
          const ok = typeof target === 'string' ? ports.some((cp) => cp.name === target) : ports.some((cp) => cp.containerPort === target);
          expect(ok, `Service ${svc.metadata.name} port ${p.port} → ${String(target)}`).to.equal(true);
        }
      }
    });

    it('gives the StatefulSet a headless governing Service', () => {
      for (const sts of ofKind('StatefulSet')) {
        const svc = find('Service', wspec(sts).serviceName ?? '');
        expect(svc, `serviceName of ${sts.metadata.name}`).to.not.equal(undefined);
        expect((svc!.spec as ServiceSpec).clusterIP).to.equal('None');
        expect(selects({ matchLabels: (svc!.spec as ServiceSpec).selector }, podLabels(sts))).to.equal(true);
      }
    });

    it('routes the Ingress (class nginx) to existing Services and ports', () => {
      const ingresses = ofKind('Ingress');
      expect(ingresses).to.have.length.of.at.least(1);
      for (const ing of ingresses) {
        const spec = ing.spec as IngressSpec;
        expect(spec.ingressClassName).to.equal('nginx');
        const backends = [...(spec.defaultBackend ? [spec.defaultBackend] : []), ...(spec.rules ?? []).flatMap((r) => (r.http?.paths ?? []).map((p) => p.backend))];
        expect(backends).to.have.length.of.at.least(1);
        for (const b of backends) {
          const svc = find('Service', b.service.name);
          expect(svc, `Ingress backend ${b.service.name}`).to.not.equal(undefined);
          const ports = (svc!.spec as ServiceSpec).ports;
          const ok = b.service.port.name !== undefined ? ports.some((p) => p.name === b.service.port.name) : ports.some((p) => p.port === b.service.port.number);
          expect(ok, `port of ${b.service.name}`).to.equal(true);
        }
        const paths = (spec.rules ?? []).flatMap((r) => r.http?.paths ?? []);
        for (const url of ['/socket.io/', '/api/calls', '/healthz', '/readyz']) {
          expect(paths.some((p) => routes(p.path ?? '/', p.pathType, url)), `${url} routed`).to.equal(true);
        }
      }
    });

    it('targets an existing Deployment with the HPA, whose replicas it alone sets', () => {
      const hpas = ofKind('HorizontalPodAutoscaler');
      expect(hpas).to.have.length.of.at.least(1);
      for (const hpa of hpas) {
        expect(hpa.apiVersion).to.equal('autoscaling/v2');
        const spec = hpa.spec as HpaSpec;
        const target = workload(spec.scaleTargetRef.kind, spec.scaleTargetRef.name);
        expect(spec.scaleTargetRef.apiVersion).to.equal(target.apiVersion);
        expect(wspec(target).replicas, `${target.metadata.name}: no replicas field next to an HPA`).to.equal(undefined);
        expect(spec.minReplicas ?? 1).to.be.at.least(2);
        expect(spec.maxReplicas).to.be.at.least(spec.minReplicas ?? 1);
        const cpu = (spec.metrics ?? []).find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
        expect(cpu?.resource?.target.type).to.equal('Utilization');
        expect(cpu?.resource?.target.averageUtilization).to.be.within(1, 100);
        // Utilization is a share of the request: every container needs a CPU request.
        for (const c of podSpec(target).containers) expect(c.resources?.requests?.cpu, `${c.name} cpu request`).to.be.a('string');
      }
    });

    it('points each PodDisruptionBudget at one workload and still lets a node drain', () => {
      const minReplicas = (w: K8sObject) => {
        const hpa = ofKind('HorizontalPodAutoscaler').find((h) => (h.spec as HpaSpec).scaleTargetRef.name === w.metadata.name);
        return hpa ? ((hpa.spec as HpaSpec).minReplicas ?? 1) : (wspec(w).replicas ?? 1);
      };
      for (const pdb of ofKind('PodDisruptionBudget')) {
        const spec = pdb.spec as PdbSpec;
        const targets = workloads.filter((w) => selects(spec.selector, podLabels(w)));
        expect(targets, `PDB ${pdb.metadata.name}`).to.have.length(1);
        if (typeof spec.minAvailable === 'number') expect(spec.minAvailable, 'minAvailable below the smallest replica count').to.be.below(minReplicas(targets[0]!));
        if (typeof spec.maxUnavailable === 'number') expect(spec.maxUnavailable).to.be.at.least(1);
      }
      expect(ofKind('PodDisruptionBudget').some((p) => selects((p.spec as PdbSpec).selector, podLabels(byRole('gateway'))))).to.equal(true);
    });

    it('selects existing pods in the NetworkPolicies and admits both app roles to Redis', () => {
      const redis = workload('StatefulSet', 'redis');
      for (const np of ofKind('NetworkPolicy')) {
        const spec = np.spec as NetworkPolicySpec;
        expect(workloads.some((w) => selects(spec.podSelector, podLabels(w))), `${np.metadata.name} podSelector`).to.equal(true);
        for (const from of (spec.ingress ?? []).flatMap((r) => r.from ?? [])) {
          if (from.podSelector) expect(workloads.some((w) => selects(from.podSelector, podLabels(w))), `${np.metadata.name} from`).to.equal(true);
        }
        if (selects(spec.podSelector, podLabels(redis))) {
          for (const w of appWorkloads) {
            const admitted = (spec.ingress ?? []).some((r) => (r.from ?? []).some((f) => selects(f.podSelector, podLabels(w))));
            expect(admitted, `${w.metadata.name} may reach redis`).to.equal(true);
          }
        }
      }
    });

    it('lets only the app roles reach Redis and PostgreSQL, each on its one port', () => {
      for (const [name, port] of [['redis', 6379], ['postgres', 5432]] as const) {
        const sts = workload('StatefulSet', name);
        const policies = ofKind('NetworkPolicy').filter((np) => selects((np.spec as NetworkPolicySpec).podSelector, podLabels(sts)));
        expect(policies, `a NetworkPolicy selects ${name}`).to.have.length.of.at.least(1);
        const named = new Map(containers(sts).flatMap((c) => c.ports ?? []).map((p) => [p.name, p.containerPort]));
        for (const np of policies) {
          const spec = np.spec as NetworkPolicySpec;
          expect(spec.policyTypes ?? ['Ingress'], `${np.metadata.name} policyTypes`).to.include('Ingress');
          for (const rule of spec.ingress ?? []) {
            // A rule without `from` (or `ports`) admits every source (or port).
            expect(rule.from ?? [], `${np.metadata.name}: sources named`).to.have.length.of.at.least(1);
            for (const peer of rule.from ?? []) {
              expect(peer.ipBlock ?? peer.namespaceSelector, `${np.metadata.name}: pods of this namespace only`).to.equal(undefined);
              const admitted = workloads.filter((w) => selects(peer.podSelector, podLabels(w)));
              expect(admitted.length, `${np.metadata.name}: a peer selects a workload`).to.be.at.least(1);
              for (const w of admitted) expect(appWorkloads, `${np.metadata.name} admits ${w.metadata.name}`).to.include(w);
            }
            expect(rule.ports ?? [], `${np.metadata.name}: ports named`).to.have.length.of.at.least(1);
            for (const p of rule.ports ?? []) {
              expect(typeof p.port === 'string' ? named.get(p.port) : p.port, `${np.metadata.name} port ${String(p.port)}`).to.equal(port);
              expect(p.protocol ?? 'TCP').to.equal('TCP');
            }
          }
        }
        for (const w of appWorkloads) {
          const admitted = policies.some((np) => ((np.spec as NetworkPolicySpec).ingress ?? []).some((r) => (r.from ?? []).some((f) => selects(f.podSelector, podLabels(w)))));
          expect(admitted, `${w.metadata.name} may reach ${name}`).to.equal(true);
        }
      }
    });
  });

  describe('configuration', () => {
    it('uses only variables of server/config.ts, in the ConfigMap and in every container env', () => {
      const cm = configMap();
      expect(cm.metadata.name).to.equal('dispatch-config');
      for (const key of Object.keys(cm.data ?? {})) expect(CONFIG_VARIABLES, `ConfigMap key ${key}`).to.include(key);
      for (const value of Object.values(cm.data ?? {})) expect(value, 'ConfigMap values are strings').to.be.a('string');
      for (const key of ['JWT_SECRET', 'DATABASE_URL']) expect(cm.data, `no secret in the ConfigMap: ${key}`).to.not.have.property(key);
      for (const w of appWorkloads) {
        const c = appContainer(w);
        for (const e of c.env ?? []) expect(CONFIG_VARIABLES, `${w.metadata.name}: ${e.name}`).to.include(e.name);
        expect(podSpec(w).enableServiceLinks, `${w.metadata.name}: no service-link variables`).to.equal(false);
        for (const ref of c.envFrom ?? []) {
          expect(ref.secretRef, 'no envFrom of a Secret (its keys are unchecked)').to.equal(undefined);
          expect(find('ConfigMap', ref.configMapRef?.name ?? ''), `${w.metadata.name}: envFrom ConfigMap`).to.not.equal(undefined);
        }
      }
    });

    it('reads JWT_SECRET and DATABASE_URL (it carries a password) from the Secret dispatch-secrets', () => {
      for (const w of appWorkloads) {
        for (const ref of [SECRET, DATABASE_SECRET]) {
          const e = appContainer(w).env?.find((v) => v.name === ref.key);
          expect(e?.value, `${w.metadata.name}: no literal ${ref.key}`).to.equal(undefined);
          expect(e?.valueFrom?.secretKeyRef, `${w.metadata.name}: ${ref.key}`).to.deep.equal(ref);
        }
      }
    });

    it('gives each role a configuration that loadConfig accepts, with Redis and PostgreSQL at their Services', () => {
      const cm = configMap().data as Record<string, string>;
      const postgres = workload('StatefulSet', 'postgres');
      const pgEnv = Object.fromEntries((podSpec(postgres).containers[0]!.env ?? []).map((e) => [e.name, e.value]));
      for (const [role, name] of [['gateway', 'gateway'], ['dispatcher', 'dispatcher']] as const) {
        const w = workload('Deployment', name);
        const env: Record<string, string> = { ...cm };
        // Secret values as in secret.example.yaml.
        for (const e of appContainer(w).env ?? []) env[e.name] = e.value ?? secretExample.stringData?.[e.valueFrom?.secretKeyRef?.key ?? ''] ?? '';
        const config = loadConfig(env);
        const db = new URL(config.DATABASE_URL ?? 'missing:');
        expect(db.protocol, `${name}: DATABASE_URL`).to.equal('postgres:');
        const pgSvc = find('Service', db.hostname);
        expect(pgSvc, `DATABASE_URL host ${db.hostname}`).to.not.equal(undefined);
        expect((pgSvc!.spec as ServiceSpec).ports.map((p) => p.port)).to.include(Number(db.port || 5432));
        expect(selects({ matchLabels: (pgSvc!.spec as ServiceSpec).selector }, podLabels(postgres)), `Service ${db.hostname} selects postgres`).to.equal(true);
        expect(decodeURIComponent(db.username), 'the user the image creates').to.equal(pgEnv.POSTGRES_USER ?? 'postgres');
        expect(db.pathname.slice(1), 'the database the image creates').to.equal(pgEnv.POSTGRES_DB ?? pgEnv.POSTGRES_USER ?? 'postgres');
        expect(decodeURIComponent(db.password), 'the example password is POSTGRES_PASSWORD').to.equal(secretExample.stringData?.POSTGRES_PASSWORD);
        expect(config.ROLE).to.equal(role);
        expect(config.NODE_ENV).to.equal('production');
        expect(config.EMBEDDED_REDIS, 'no private redis-server').to.equal(false);
        const port = appContainer(w).ports?.find((p) => p.name === 'http');
        expect(port?.containerPort, `${name}: port http is PORT`).to.equal(config.PORT);
        const url = new URL(config.REDIS_URL);
        const svc = find('Service', url.hostname);
        expect(svc, `REDIS_URL host ${url.hostname}`).to.not.equal(undefined);
        expect((svc!.spec as ServiceSpec).ports.map((p) => p.port)).to.include(Number(url.port || 6379));
        expect(selects({ matchLabels: (svc!.spec as ServiceSpec).selector }, podLabels(workload('StatefulSet', 'redis')))).to.equal(true);
      }
    });

    it('keeps the Ingress body limit equal to MAX_BODY_BYTES', () => {
      const max = loadConfig({ ...(configMap().data as Record<string, string>), JWT_SECRET: 'k8s-test-secret-0123456789abcdef' }).MAX_BODY_BYTES;
      for (const ing of ofKind('Ingress')) {
        const size = ing.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-body-size'];
        expect(size, 'proxy-body-size').to.be.a('string');
        expect(nginxSize(size!)).to.equal(max);
      }
    });
  });

  describe('gateway', () => {
    it('rolls out without ever dropping below the current count, one surge pod at a time', () => {
      const s = wspec(byRole('gateway')).strategy;
      expect(s?.type ?? 'RollingUpdate').to.equal('RollingUpdate');
      expect(s?.rollingUpdate?.maxUnavailable).to.equal(0);
      expect(s?.rollingUpdate?.maxSurge).to.equal(1);
    });

    it('sleeps in preStop and has time to drain after it', () => {
      const w = byRole('gateway');
      const preStop = appContainer(w).lifecycle?.preStop;
      expect(preStop, 'preStop hook').to.not.equal(undefined);
      const cmd = preStop?.exec?.command ?? [];
      const sleep = preStop?.sleep?.seconds ?? Number(/sleep\s+(\d+)/.exec(cmd.join(' '))?.[1] ?? NaN);
      expect(sleep, 'preStop sleeps').to.be.within(1, 15);
      const grace = podSpec(w).terminationGracePeriodSeconds ?? 30;
      expect(grace).to.be.at.least(20);
      // The app forces its exit after 10 s of draining, after the preStop sleep.
      expect(grace).to.be.above(sleep + 10);
    });

    it('is published by the Service gateway on port 80 → http', () => {
      const svc = find('Service', 'gateway');
      const port = (svc?.spec as ServiceSpec | undefined)?.ports.find((p) => p.port === 80);
      expect(port?.targetPort).to.equal('http');
      expect(selects({ matchLabels: (svc!.spec as ServiceSpec).selector }, podLabels(byRole('gateway')))).to.equal(true);
    });

    it('sets resource requests and limits', () => {
      for (const w of appWorkloads) {
        const r = appContainer(w).resources;
        expect(r?.requests?.cpu, w.metadata.name).to.be.a('string');
        expect(r?.requests?.memory, w.metadata.name).to.be.a('string');
        expect(r?.limits?.memory, w.metadata.name).to.be.a('string');
      }
    });

    it('keeps /metrics off the Ingress and sets websocket timeouts and cookie affinity', () => {
      for (const ing of ofKind('Ingress')) {
        const a = ing.metadata.annotations ?? {};
        expect(a['nginx.ingress.kubernetes.io/affinity']).to.equal('cookie');
        expect(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout'])).to.be.at.least(3600);
        expect(Number(a['nginx.ingress.kubernetes.io/proxy-send-timeout'])).to.be.at.least(3600);
        const spec = ing.spec as IngressSpec;
        expect(spec.defaultBackend, 'no default backend to a gateway').to.equal(undefined);
        const paths = (spec.rules ?? []).flatMap((r) => r.http?.paths ?? []);
        for (const url of ['/metrics', '/metrics/']) {
          const routed = paths.filter((p) => routes(p.path ?? '/', p.pathType, url));
          const denied = /location[^{]*\/metrics[^{]*\{[^}]*(deny all|return 40[34])/.test(a['nginx.ingress.kubernetes.io/server-snippet'] ?? '');
          expect(routed.length === 0 || denied, `${url} must not reach a gateway`).to.equal(true);
        }
      }
    });
  });

  describe('dispatcher', () => {
    it('keeps no ledger on its pod: DATABASE_URL, no DB_PATH, no claimed volume', () => {
      const w = byRole('dispatcher');
      expect(w.kind).to.equal('Deployment');
      expect(wspec(w).replicas).to.equal(1);
      const c = appContainer(w);
      expect(c.env?.map((e) => e.name)).to.include('DATABASE_URL').and.not.include('DB_PATH');
      expect(podSpec(w).volumes?.filter((v) => v.persistentVolumeClaim), 'no PersistentVolumeClaim').to.deep.equal([]);
      expect(ofKind('PersistentVolumeClaim').map((p) => p.metadata.name), 'no claim left for a SQLite ledger').to.deep.equal([]);
    });

    it('starts the new pod before it stops the old one (the ledger takes several writers)', () => {
      const s = wspec(byRole('dispatcher')).strategy;
      expect(s?.type ?? 'RollingUpdate').to.equal('RollingUpdate');
      expect(s?.rollingUpdate?.maxUnavailable).to.equal(0);
      expect(s?.rollingUpdate?.maxSurge).to.equal(1);
    });

    it('has no PodDisruptionBudget that would block drains of its single pod', () => {
      const w = byRole('dispatcher');
      for (const pdb of ofKind('PodDisruptionBudget')) {
        const spec = pdb.spec as PdbSpec;
        if (!selects(spec.selector, podLabels(w))) continue;
        expect(spec.minAvailable ?? 0, 'minAvailable').to.equal(0);
      }
    });
  });

  describe('every app pod', () => {
    it('runs the compiled server, node dist/server/main.js, and nothing anywhere runs tsx', () => {
      for (const w of appWorkloads) {
        const c = appContainer(w);
        expect([...(c.command ?? []), ...(c.args ?? [])], `${w.metadata.name} command`).to.deep.equal(['node', 'dist/server/main.js']);
      }
      const strings = (v: unknown): string[] =>
        typeof v === 'string' ? [v] : v && typeof v === 'object' ? Object.values(v).flatMap(strings) : [];
      for (const o of objects) {
        for (const value of strings(o)) expect(value, `${o.kind} ${o.metadata.name}`).to.not.match(/\btsx\b/);
      }
    });

    it('probes /healthz (liveness) and /readyz (readiness) on the named port', () => {
      for (const w of appWorkloads) {
        const c = appContainer(w);
        const named = new Set((c.ports ?? []).map((p) => p.name));
        expect(c.livenessProbe?.httpGet?.path, `${w.metadata.name} liveness`).to.equal('/healthz');
        expect(c.readinessProbe?.httpGet?.path, `${w.metadata.name} readiness`).to.equal('/readyz');
        for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
          if (!probe) continue;
          expect(probe.httpGet?.port, `${w.metadata.name} probe port`).to.equal('http');
          expect(named.has('http')).to.equal(true);
        }
        if (c.startupProbe) expect(c.startupProbe.httpGet?.path, `${w.metadata.name} startup`).to.equal('/healthz');
      }
    });

    it('runs every container as non-root without privilege escalation', () => {
      for (const w of workloads) {
        const pod = podSpec(w).securityContext ?? {};
        for (const c of containers(w)) {
          const sc = { ...pod, ...c.securityContext };
          const where = `${w.metadata.name}/${c.name}`;
          expect(sc.runAsNonRoot, `${where} runAsNonRoot`).to.equal(true);
          expect(sc.runAsUser, `${where} runAsUser`).to.be.a('number').and.above(0);
          expect(c.securityContext?.allowPrivilegeEscalation, `${where} allowPrivilegeEscalation`).to.equal(false);
          expect(c.securityContext?.capabilities?.drop ?? [], `${where} drops capabilities`).to.include('ALL');
        }
      }
      // The image's `node` user.
      for (const w of appWorkloads) expect({ ...podSpec(w).securityContext, ...appContainer(w).securityContext }.runAsUser).to.equal(1000);
    });

    it('has a read-only root file system with every mount on a declared volume, /tmp writable', () => {
      for (const w of workloads) {
        const volumes = new Set([...(podSpec(w).volumes ?? []), ...(wspec(w).volumeClaimTemplates ?? []).map((t) => t.metadata)].map((v) => v.name));
        for (const c of containers(w)) {
          expect(c.securityContext?.readOnlyRootFilesystem, `${w.metadata.name}/${c.name}`).to.equal(true);
          for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name), `${w.metadata.name}: volume ${m.name}`).to.equal(true);
        }
      }
      // A writable scratch directory for Node and the libraries (the root file system is read-only).
      for (const w of appWorkloads) expect(appContainer(w).volumeMounts?.some((m) => m.mountPath === '/tmp' && !m.readOnly), `${w.metadata.name} /tmp`).to.equal(true);
    });
  });

  describe('redis', () => {
    it('runs with AOF (fsync every second) and noeviction, on a claimed volume', () => {
      const sts = workload('StatefulSet', 'redis');
      const c = podSpec(sts).containers[0]!;
      expect(c.image).to.match(/^redis:7/);
      const line = [...(c.command ?? []), ...(c.args ?? [])].join(' ');
      expect(line).to.match(/--appendonly\s+yes\b/);
      expect(line).to.match(/--appendfsync\s+everysec\b/);
      expect(line).to.match(/--maxmemory-policy\s+noeviction\b/);
      const dataDir = /--dir\s+(\S+)/.exec(line)?.[1] ?? '/data';
      const mount = c.volumeMounts?.find((m) => m.mountPath === dataDir);
      expect(mount, `volume at ${dataDir}`).to.not.equal(undefined);
      expect((wspec(sts).volumeClaimTemplates ?? []).map((t) => t.metadata.name)).to.include(mount!.name);
    });

    it('checks readiness and liveness with redis-cli ping', () => {
      const c = podSpec(workload('StatefulSet', 'redis')).containers[0]!;
      expect(c.readinessProbe?.exec?.command?.join(' ')).to.contain('redis-cli ping');
      expect(c.livenessProbe?.exec?.command?.join(' ')).to.contain('redis-cli ping');
    });
  });

  describe('postgres', () => {
    const sts = () => workload('StatefulSet', 'postgres');
    const pg = () => podSpec(sts()).containers[0]!;
    const envOf = (c: Container) => new Map((c.env ?? []).map((e) => [e.name, e]));

    it('runs one PostgreSQL pod with its data in a subdirectory of a claimed volume', () => {
      expect(wspec(sts()).replicas ?? 1).to.equal(1);
      const c = pg();
      expect(c.image).to.match(/^postgres:1[5-9]\b/);
      const pgdata = envOf(c).get('PGDATA')?.value ?? '/var/lib/postgresql/data';
      const mount = c.volumeMounts?.find((m) => pgdata.startsWith(`${m.mountPath}/`));
      // The volume's root may hold lost+found, and initdb only initializes an empty directory.
      expect(mount, `PGDATA ${pgdata} below a mount, not the mount itself`).to.not.equal(undefined);
      expect((wspec(sts()).volumeClaimTemplates ?? []).map((t) => t.metadata.name)).to.include(mount!.name);
    });

    it('takes its password from the Secret, never a literal', () => {
      const e = envOf(pg()).get('POSTGRES_PASSWORD');
      expect(e?.value).to.equal(undefined);
      expect(e?.valueFrom?.secretKeyRef).to.deep.equal({ name: SECRET.name, key: 'POSTGRES_PASSWORD' });
    });

    it('checks start-up, readiness and liveness with pg_isready over TCP', () => {
      const c = pg();
      for (const [kind, probe] of [['startup', c.startupProbe], ['readiness', c.readinessProbe], ['liveness', c.livenessProbe]] as const) {
        const line = probe?.exec?.command?.join(' ') ?? '';
        expect(line, `${kind} probe`).to.contain('pg_isready');
        // The image's init-time server listens on the unix socket only: it must not count as up.
        expect(line, `${kind} probe over TCP`).to.match(/-h\s+(127\.0\.0\.1|localhost)\b/);
      }
    });

    it('shuts down fast (not SIGTERM\'s smart shutdown, which waits for the pooled clients) within the grace period', () => {
      const line = pg().lifecycle?.preStop?.exec?.command?.join(' ') ?? '';
      expect(line).to.match(/pg_ctl\b.*\bstop\b.*-m\s+fast/);
      const wait = Number(/-t\s+(\d+)/.exec(line)?.[1] ?? 60);
      expect(podSpec(sts()).terminationGracePeriodSeconds ?? 30, 'grace period').to.be.above(wait);
    });

    it('has its socket directory writable under the read-only root file system', () => {
      expect(pg().volumeMounts?.map((m) => m.mountPath)).to.include('/var/run/postgresql');
    });
  });
});
