/**
 * A small evaluator of Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), enough to list
 * which connections a set of policies lets through: a connection needs the source's egress and the
 * destination's ingress to allow it; a pod no policy selects for a direction is open in that direction.
 */
import { type K8s, selects } from './lib.ts';

export interface PortSpec {
  port: number;
  protocol: string;
  name?: string;
}

export interface Endpoint {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ports: PortSpec[];
  /** An address outside the cluster: no pod selector matches it and no policy of ours guards it. */
  external?: boolean;
}

function policyTypes(p: K8s): string[] {
  return p.spec.policyTypes ?? ['Ingress', ...(p.spec.egress ? ['Egress'] : [])];
}

export function allowedConnections(
  sources: Endpoint[],
  destinations: Endpoint[],
  policies: K8s[],
  namespaceLabels: Record<string, Record<string, string>>,
): Set<string> {
  const nsLabels = (ns: string) => ({ ...namespaceLabels[ns], 'kubernetes.io/metadata.name': ns });

  const selecting = (ep: Endpoint, type: string) =>
    ep.external ? [] : policies.filter((p) => p.metadata.namespace === ep.namespace && selects(p.spec.podSelector, ep.labels) && policyTypes(p).includes(type));

  const peerMatches = (peers: K8s[] | undefined, ep: Endpoint, policyNs: string): boolean => {
    if (!peers || peers.length === 0) return true;
    return peers.some((peer) => {
      if (peer.ipBlock) throw new Error('ipBlock peers are not modelled by this test; extend netpol.ts');
      if (ep.external) return false;
      const nsOk = peer.namespaceSelector ? selects(peer.namespaceSelector, nsLabels(ep.namespace)) : ep.namespace === policyNs;
      const podOk = peer.podSelector ? selects(peer.podSelector, ep.labels) : true;
      return nsOk && podOk;
    });
  };

  const portMatches = (ports: K8s[] | undefined, port: PortSpec): boolean => {
    if (!ports || ports.length === 0) return true;
    return ports.some((pp) => {
      if ((pp.protocol ?? 'TCP') !== port.protocol) return false;
      if (pp.port === undefined) return true;
      if (typeof pp.port === 'string') return pp.port === port.name;
      return pp.endPort ? port.port >= pp.port && port.port <= pp.endPort : port.port === pp.port;
    });
  };

  const egressAllowed = (src: Endpoint, dst: Endpoint, port: PortSpec) => {
    const ps = selecting(src, 'Egress');
    return ps.length === 0 || ps.some((p) => (p.spec.egress ?? []).some((r: K8s) => peerMatches(r.to, dst, p.metadata.namespace) && portMatches(r.ports, port)));
  };
  const ingressAllowed = (dst: Endpoint, src: Endpoint, port: PortSpec) => {
    const ps = selecting(dst, 'Ingress');
    return ps.length === 0 || ps.some((p) => (p.spec.ingress ?? []).some((r: K8s) => peerMatches(r.from, src, p.metadata.namespace) && portMatches(r.ports, port)));
  };

  const allowed = new Set<string>();
  for (const src of sources) {
    for (const dst of destinations) {
      for (const port of dst.ports) {
        if (egressAllowed(src, dst, port) && ingressAllowed(dst, src, port)) allowed.add(`${src.name} -> ${dst.name}:${port.port}/${port.protocol}`);
      }
    }
  }
  return allowed;
}
