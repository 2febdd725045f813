# Berth's CORS proxy on workerd, Cloudflare's open-source Workers runtime, self-hosted.
# docs/deploy.md explains every line. Put this file next to the bundled worker and serve it:
#
#   npx esbuild proxy/workerd.ts --bundle --format=esm --platform=neutral --target=es2022 \
#     --outfile=/srv/berth-proxy/berth-proxy.js
#   cp proxy/workerd.capnp /srv/berth-proxy/config.capnp     # then edit the bindings below
#   npx workerd serve /srv/berth-proxy/config.capnp           # -s http=0.0.0.0:8080 moves the socket
#
# The proxy answers under /proxy/ only; point the site at it with its `proxy` setting or a build
# made with VITE_BERTH_PROXY=https://proxy.example.com/proxy.

using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "berth-proxy", worker = .berthProxy),

    # The worker's global fetch(): public addresses only. A host name is resolved first and only
    # its public addresses are used, so DNS cannot lead the proxy to a private one. This is the
    # check Node's createGuardedFetch does; keep it at ["public"].
    (name = "public-network", network = (allow = ["public"], tlsOptions = (trustBrowserCas = true))),

    # Used only for the hosts listed in BERTH_INSECURE_REGISTRIES (the worker routes them here
    # through the BERTH_INSECURE_NETWORK binding). "private" is every address reserved for
    # private networks (10.0.0.0/8, 192.168.0.0/16, ...) and includes "local" (127.0.0.0/8).
    # Remove this service and that binding if nothing is listed.
    (name = "insecure-network", network = (allow = ["public", "private"], tlsOptions = (trustBrowserCas = true))),
  ],

  sockets = [
    # Plain HTTP: put a TLS-terminating reverse proxy in front, or give the socket an
    #   https = (options = (), tlsOptions = (keypair = (privateKey = embed "key.pem",
    #                                                    certificateChain = embed "cert.pem")))
    # instead of `http = ()`.
    (name = "http", address = "127.0.0.1:8080", http = (), service = "berth-proxy"),
  ],
);

const berthProxy :Workerd.Worker = (
  modules = [(name = "berth-proxy.js", esModule = embed "berth-proxy.js")],
  compatibilityDate = "2026-11-01",
  bindings = [
    # host[:port] list reached over plain http and on private addresses, e.g.
    # "registry.lan:5000,10.0.0.7:5000". Empty: https on public addresses only.
    (name = "BERTH_INSECURE_REGISTRIES", text = ""),
    # Origins of the Berth site allowed to read the proxy's answers (CORS), comma-separated.
    (name = "BERTH_ALLOWED_ORIGINS", text = "https://berth.example.com"),
    # Host names (port ignored) the proxy answers to, a guard against DNS rebinding; "*" or ""
    # answers any. Add the public name when a reverse proxy forwards its own Host header.
    (name = "BERTH_ALLOWED_HOSTS", text = "localhost,127.0.0.1"),
    # Connect and response-header timeout per upstream hop, and the longest upstream silence
    # inside a body, in milliseconds.
    (name = "BERTH_PROXY_TIMEOUT_MS", text = "30000"),
    (name = "BERTH_PROXY_IDLE_TIMEOUT_MS", text = "60000"),
    # Requests per minute per client address (the socket's peer); "0" disables the limit.
    (name = "BERTH_PROXY_RATE_LIMIT", text = "600"),
    # "1" logs one line per request to stdout (no query strings, no headers).
    (name = "BERTH_PROXY_LOG", text = ""),
    (name = "BERTH_INSECURE_NETWORK", service = "insecure-network"),
  ],
  globalOutbound = "public-network",
);
