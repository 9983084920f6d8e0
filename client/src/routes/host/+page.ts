// The host's page runs in the browser only: its session cookie is scoped to /api/host, so a
// server-side render could not know the host anyway, and no host data is ever rendered on the server.
export const ssr = false;
