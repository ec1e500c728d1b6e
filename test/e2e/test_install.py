"""`make install`, the man pages, the init script and the systemd unit, as an
operator would meet them."""
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from nmqtest import ROOT, Node, pid_alive


class TestInstall(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="nmq-install-")
        self.addCleanup(shutil.rmtree, self.dest, True)

    def test_make_install_puts_everything_in_place(self):
        r = subprocess.run(["make", "-s", "install", "DESTDIR=" + self.dest, "PREFIX=/usr"],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        files = {
            "usr/sbin/nemomq": True, "usr/bin/nemomq-admin": True, "etc/init.d/nemomq": True,
            "etc/nemomq/nemomq.conf": False, "lib/systemd/system/nemomq.service": False,
            "usr/share/man/man8/nemomq.8": False, "usr/share/man/man8/nemomq-admin.8": False,
            "usr/share/man/man5/nemomq.conf.5": False, "usr/share/man/man1/nemomq-bench.1": False,
            "usr/bin/nemomq-passwd": True, "usr/bin/nemomq-bench": True,
        }
        for path, executable in files.items():
            full = os.path.join(self.dest, path)
            self.assertTrue(os.path.isfile(full), path)
            self.assertEqual(bool(os.stat(full).st_mode & stat.S_IXUSR), executable, path)
        init = open(os.path.join(self.dest, "etc/init.d/nemomq")).read()
        self.assertNotIn("@", init.split("### END INIT INFO")[1].replace("$@", ""))
        self.assertIn("NEMOMQ=/usr/sbin/nemomq", init)
        unit = open(os.path.join(self.dest, "lib/systemd/system/nemomq.service")).read()
        self.assertIn("ExecStart=/usr/sbin/nemomq -c ${NEMOMQ_CONF} console", unit)
        self.assertIn("RestartPreventExitStatus=78", unit)
        # the installed config is the generated one and loads as it is
        conf = os.path.join(self.dest, "etc/nemomq/nemomq.conf")
        self.assertEqual(open(conf).read(), open(os.path.join(ROOT, "conf/nemomq.conf")).read())
        r = subprocess.run([os.path.join(self.dest, "usr/sbin/nemomq"), "config", "check", conf],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_man_pages_render_without_warnings(self):
        subprocess.run(["make", "-s", "build"], cwd=ROOT, check=True, timeout=600)
        pages = [os.path.join(ROOT, "man/nemomq.8"), os.path.join(ROOT, "man/nemomq-admin.8"),
                 os.path.join(ROOT, "build/man/nemomq.conf.5"), os.path.join(ROOT, "man/nemomq-bench.1")]
        for page in pages:
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)
        conf5 = subprocess.run(["groff", "-man", "-Tutf8", pages[2]], capture_output=True, text=True).stdout
        conf5 = re.sub(".\x08", "", conf5)   # no overstrike bold/underline
        # generated from the table: every key is documented
        for key in ("listener.nr_of_acceptors", "supervisor.max_restarts", "max_inflight_messages",
                    "allow_publish_during_netsplit", "distributed_cookie"):
            self.assertIn(key, conf5)


class TestInitScript(unittest.TestCase):
    def test_start_status_reload_stop(self):
        node = Node()
        self.addCleanup(node.cleanup)
        script = os.path.join(node.dir, "nemomq.init")
        text = open(os.path.join(ROOT, "scripts/nemomq")).read()
        text = text.replace("@SBINDIR@", os.path.join(ROOT, "build/bin")).replace(
            "@BINDIR@", os.path.join(ROOT, "build/bin"))
        with open(script, "w") as f:
            f.write(text)
        os.chmod(script, 0o755)
        env = dict(os.environ, NEMOMQ_CONF=node.conf)

        def init(action):
            return subprocess.run([script, action], env=env, capture_output=True, text=True, timeout=120)

        self.assertEqual(init("status").returncode, 3)
        self.assertEqual(init("start").returncode, 0)
        node.sup_pid = node.read_pid()
        self.assertTrue(node.ping())
        self.assertEqual(init("status").returncode, 0)
        self.assertEqual(init("start").returncode, 0)     # already running: fine
        self.assertEqual(node.read_pid(), node.sup_pid)
        self.assertEqual(init("reload").returncode, 0)
        self.assertEqual(init("stop").returncode, 0)
        self.assertFalse(pid_alive(node.sup_pid))
        self.assertEqual(init("status").returncode, 3)
        self.assertEqual(init("bogus").returncode, 2)


if __name__ == "__main__":
    unittest.main()
