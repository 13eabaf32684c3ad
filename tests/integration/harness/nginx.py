"""nginx as the mTLS upstream (and, for the benchmarks, a reverse proxy)."""

import os

from .procs import check, free_port, run, tcp_connectable, wait_for

__all__ = ['NginxServer', 'Nginx']


class NginxServer:
    """One server block of the fixture: TLS, requires a client cert from the mesh CA."""

    def __init__(self, label, cert, key, client_ca, port=None, http2=True, host="127.0.0.1"):
        self.label = label
        self.cert, self.key, self.client_ca = cert, key, client_ca
        self.host = host
        self.port = port or free_port(host)
        self.http2 = http2

    @property
    def endpoint(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class Nginx:
    """nginx as a non-daemon child with its own prefix directory (DIR)."""

    def __init__(self, env, name="nginx"):
        self.env = env
        self.name = name
        self.dir = env.mkdir(name)
        self.www = env.mkdir(name, "www")
        env.mkdir(name, "www", "files")
        env.mkdir(name, "www", "upload")
        env.mkdir(name, "tmp")
        self.servers = []
        self.extra_http = ""
        self.proc = None

    def add_server(self, label, cert, key, client_ca, http2=True, host="127.0.0.1"):
        s = NginxServer(label, cert, key, client_ca, http2=http2, host=host)
        self.servers.append(s)
        return s

    def server(self, label):
        for s in self.servers:
            if s.label == label:
                return s
        raise KeyError(label)

    def add_file(self, name, source_path):
        """Makes source_path downloadable as /files/<name> (a symlink, no copy)."""
        dst = os.path.join(self.www, "files", name)
        if os.path.lexists(dst):
            os.unlink(dst)
        os.symlink(source_path, dst)
        return dst

    def uploaded(self, name):
        return os.path.join(self.www, "upload", name)

    def _server_block(self, s):
        d = self.dir
        listen = f"{s.endpoint} ssl" + (" http2" if s.http2 else "")
        headers = ("xfcc=$http_x_forwarded_client_cert\\n"
                   "xff=$http_x_forwarded_for\\n"
                   "xrid=$http_x_request_id\\n"
                   "xfp=$http_x_forwarded_proto\\n"
                   "xfh=$http_x_forwarded_host\\n"
                   "forwarded=$http_forwarded\\n"
                   "host=$host\\n"
                   "proto=$server_protocol\\n"
                   "sni=$ssl_server_name\\n"
                   "client_verify=$ssl_client_verify\\n"
                   "client_dn=$ssl_client_s_dn\\n")
        return f"""
    server {{
        listen {listen};
        server_name _;
        ssl_certificate {s.cert};
        ssl_certificate_key {s.key};
        ssl_verify_client on;
        ssl_client_certificate {s.client_ca};
        ssl_verify_depth 2;
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 0;
        set $who "{s.label}";

        location = /whoami {{ return 200 "$ssl_client_s_dn $ssl_client_verify\\n"; }}
        location = /cert {{ return 200 "$ssl_client_escaped_cert"; }}
        location = /headers {{ return 200 "{headers}"; }}
        location /files/ {{ root {d}/www; }}
        location /upload/ {{
            root {d}/www;
            dav_methods PUT;
            create_full_put_path on;
            client_body_temp_path {d}/tmp/put;
        }}
        location = /sink {{ return 200 "sink $request_length\\n"; }}
        location /h2/ {{ rewrite ^/h2(/.*)$ $1 last; }}
        location / {{ return 200 "hello from $who upstream $uri\\n"; }}
    }}
"""

    def write_config(self):
        d = self.dir
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}worker_processes 1;
events {{ worker_connections 4096; }}
http {{
    default_type text/plain;
    types {{ application/octet-stream bin; }}
    log_format itest '$remote_addr "$request" $status $request_length $body_bytes_sent '
                     '"$http_x_forwarded_client_cert" "$http_x_request_id" "$ssl_client_verify"';
    access_log {d}/access.log itest;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    sendfile on;
    keepalive_requests 100000;
{self.extra_http}
{''.join(self._server_block(s) for s in self.servers)}
}}
"""
        path = os.path.join(d, "nginx.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(conf)
        return path

    def start(self, conf=None, proc_name=None):
        """Writes the config and runs nginx on it; or runs it on `conf`, a config file a test
        edited (proc_name then names the new process's output files)."""
        conf = conf or self.write_config()
        d = self.dir
        argv = ["nginx", "-p", d + "/", "-c", conf,
                "-g", f"daemon off; pid {d}/nginx.pid; error_log {d}/error.log;"]
        r = run(argv[:-2] + ["-t"] + argv[-2:])
        check(r.returncode == 0, f"nginx -t failed:\n{r.stderr}")
        self.proc = self.env.start(proc_name or self.name, argv)
        for s in self.servers:
            host = s.host
            wait_for(lambda: tcp_connectable(host, s.port) or not self.proc.alive(), 10,
                     f"nginx {s.label} on port {s.port}")
            check(self.proc.alive(), f"nginx exited: {self.error_log()}")
        return self

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def access_log(self):
        try:
            with open(os.path.join(self.dir, "access.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""
