"""A throwaway WordPress site for the companion plugin: Debian's WordPress copied into a
folder, its own MariaDB database, installed with WordPress's own installer, served by PHP's
built-in web server below the root of its host (``http://127.0.0.1:PORT/shop/``, as a store
in a folder), the plugin copied into its ``wp-content/plugins/nudge`` as a merchant would.

Every PHP message goes to the site's debug log (``WP_DEBUG_LOG``), which the tests read.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

from connectors import woocommerce

WORDPRESS = Path("/usr/share/wordpress")  # Debian's package `wordpress`
PLUGIN = Path(woocommerce.__file__).parent / "wordpress" / "nudge"
MARIADB = ("127.0.0.1", 3306)
ADMIN, PASSWORD = "admin", "wp-test-password"

# A classic theme of two files: a page's head and foot are where plugins print their tags
# (Debian's WordPress comes without a theme unless its recommended theme package is added).
THEME_CSS = "/*\nTheme Name: Nudge Test\n*/\n"
THEME_INDEX = (
    "<!DOCTYPE html><html><head><?php wp_head(); ?></head>"
    "<body><main><?php bloginfo( 'name' ); ?></main><?php wp_footer(); ?></body></html>\n"
)


# The machine has no network: WordPress is told its update checks are fresh, so it makes none
# (each would fail with a warning). A must-use plugin, loaded before every other.
OFFLINE = """<?php
$nudge_test_checked = static function () {
	return (object) array(
		'last_checked'    => time(),
		'version_checked' => get_bloginfo( 'version' ),
		'updates'         => array(),
		'translations'    => array(),
		'checked'         => array(),
		'response'        => array(),
	);
};
foreach ( array( 'update_core', 'update_plugins', 'update_themes' ) as $nudge_test_name ) {
	add_filter( 'pre_site_transient_' . $nudge_test_name, $nudge_test_checked );
}
add_filter( 'pre_http_request', static function ( $pre, $args, $url ) {
	return 0 === strpos( $url, 'https://api.wordpress.org/' ) ? new WP_Error( 'offline', 'no network' ) : $pre;
}, 10, 3 );
"""


def missing() -> str | None:
    """What this machine lacks to run a WordPress site, or None."""
    php = shutil.which("php")
    if php is None:
        return "php is not installed (apt-get install php-cli php-mysql)"
    if not (WORDPRESS / "wp-load.php").is_file():
        return f"WordPress is not installed at {WORDPRESS} (apt-get install wordpress)"
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, check=False).stdout
    if "mysqli" not in modules.split():
        return "PHP has no mysqli (apt-get install php-mysql)"
    try:
        socket.create_connection(MARIADB, timeout=2).close()
    except OSError:
        return "no MariaDB/MySQL at 127.0.0.1:3306"
    return None


def database_name(test_name: str) -> str:
    """A database name for a test: its name in MariaDB's characters, unique to this run."""
    base = re.sub(r"[^a-z0-9_]", "_", test_name.lower())[:40]
    return f"{base}_{os.getpid()}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Site:
    """One WordPress site: its files under ``folder``, its database, its web server."""

    def __init__(self, folder: Path, database: str):
        self.folder, self.database = folder, database
        self.root = folder / "docroot" / "shop"  # WordPress's files (ABSPATH)
        self.log = folder / "debug.log"
        self.port = free_port()
        self.home = f"http://127.0.0.1:{self.port}/shop"
        self.server: subprocess.Popen[bytes] | None = None

    # --- building it -----------------------------------------------------------------------

    def create(self) -> None:
        self.mysql(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")
        self.root.parent.mkdir(parents=True)
        # a copy, not links: WordPress finds its wp-config.php beside wp-load.php's real path
        subprocess.run(["cp", "-a", str(WORDPRESS), str(self.root)], check=True)
        (self.root / "wp-config.php").write_text(self._config())
        content = self.root / "wp-content"
        theme = content / "themes" / "nudge-test"
        theme.mkdir(parents=True, exist_ok=True)
        (theme / "style.css").write_text(THEME_CSS)
        (theme / "index.php").write_text(THEME_INDEX)
        (content / "mu-plugins").mkdir(exist_ok=True)
        (content / "mu-plugins" / "offline.php").write_text(OFFLINE)
        shutil.copytree(PLUGIN, content / "plugins" / "nudge")
        self.php(
            "define( 'WP_INSTALLING', true );"
            "require ABSPATH_FILE; require_once ABSPATH . 'wp-admin/includes/upgrade.php';"
            "$made = wp_install( 'Test store', $argv[1], 'admin@example.com', false, '', $argv[2] );"
            "echo json_encode( array( 'user_id' => $made['user_id'] ) );",
            ADMIN,
            PASSWORD,
        )

    def _config(self) -> str:
        salts = "".join(
            f"define( '{name}', '{secrets.token_hex(32)}' );\n"
            for name in (
                "AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY "
                "AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT"
            ).split()
        )
        host, port = MARIADB
        return (
            "<?php\n"
            f"define( 'DB_NAME', '{self.database}' );\n"
            "define( 'DB_USER', 'root' );\n"
            "define( 'DB_PASSWORD', '' );\n"
            f"define( 'DB_HOST', '{host}:{port}' );\n"
            "define( 'DB_CHARSET', 'utf8mb4' );\n"
            "define( 'DB_COLLATE', '' );\n"
            f"{salts}"
            "$table_prefix = 'wp_';\n"
            f"define( 'WP_HOME', '{self.home}' );\n"
            f"define( 'WP_SITEURL', '{self.home}' );\n"
            "define( 'WP_DEBUG', true );\n"
            f"define( 'WP_DEBUG_LOG', '{self.log}' );\n"
            "define( 'WP_DEBUG_DISPLAY', false );\n"
            "define( 'WP_DEFAULT_THEME', 'nudge-test' );\n"
            "define( 'DISABLE_WP_CRON', true );\n"
            "define( 'AUTOMATIC_UPDATER_DISABLED', true );\n"
            "define( 'WP_HTTP_BLOCK_EXTERNAL', true );\n"  # no network: no update checks
            "if ( ! defined( 'ABSPATH' ) ) { define( 'ABSPATH', __DIR__ . '/' ); }\n"
            "require_once ABSPATH . 'wp-settings.php';\n"
        )

    def serve(self) -> None:
        """PHP's built-in web server on the site's folder's parent, so the site is at /shop/."""
        with (self.folder / "server.log").open("wb") as log:  # the server keeps its own copy
            self.server = subprocess.Popen(
                ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(self.root.parent)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.server.poll() is None, (self.folder / "server.log").read_text()
                time.sleep(0.05)
        raise AssertionError("php -S did not start listening")

    def destroy(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=20)
        self.mysql(f"DROP DATABASE IF EXISTS `{self.database}`")
        shutil.rmtree(self.root, ignore_errors=True)  # 56 MB of WordPress; the logs stay

    # --- using it ---------------------------------------------------------------------------

    def php(self, code: str, *args: str) -> str:
        """Run PHP in the site (``ABSPATH_FILE`` is its wp-load.php); return what it printed.
        Its messages go to the debug log, as the site's own do."""
        script = self.folder / "step.php"
        script.write_text(
            "<?php\n"
            f"define( 'ABSPATH_FILE', {json.dumps(str(self.root / 'wp-load.php'))} );\n"
            f"ini_set( 'error_log', {json.dumps(str(self.log))} );\n"
            f"$_SERVER['HTTP_HOST'] = '127.0.0.1:{self.port}';\n"
            f"{code}\n"
        )
        done = subprocess.run(
            ["php", "-d", "display_errors=stderr", str(script), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
            check=False,
        )
        assert done.returncode == 0, (
            f"php failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
        return done.stdout

    def mysql(self, statement: str) -> None:
        host, port = MARIADB
        code = (
            "$db = new mysqli( $argv[1], 'root', '', '', (int) $argv[2] );"
            "if ( ! $db->query( $argv[3] ) ) { fwrite( STDERR, $db->error ); exit( 1 ); }"
        )
        subprocess.run(["php", "-r", code, host, str(port), statement], check=True, timeout=60)

    def option(self, name: str) -> object:
        """An option as WordPress reads it (False when it does not exist)."""
        code = "require ABSPATH_FILE; echo json_encode( get_option( $argv[1] ) );"
        return json.loads(self.php(code, name))

    def messages(self) -> list[str]:
        """The PHP messages logged so far (WordPress's debug log)."""
        if not self.log.exists():
            return []
        return [line for line in self.log.read_text(errors="replace").splitlines() if line]

    def login(self) -> requests.Session:
        """A browser session signed in as the administrator, through wp-login.php."""
        browser = requests.Session()
        browser.get(f"{self.home}/wp-login.php", timeout=30)  # sets WordPress's test cookie
        signed_in = browser.post(
            f"{self.home}/wp-login.php",
            data={"log": ADMIN, "pwd": PASSWORD, "testcookie": "1", "wp-submit": "Log In"},
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 302, signed_in.text[:2000]
        return browser
