"""nemomq-passwd as an operator meets it: create, update, delete and -U on a
real file, the password given on stdin.  Every hash it writes is checked the
way VerneMQ checks it (base64 SHA-512 of password + salt) with python's
hashlib, independently of the C code."""
import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from nmqtest import BIN

TOOL = os.path.join(BIN, "nemomq-passwd")
LINE = re.compile(r"^([^:]+):\$6\$([A-Za-z0-9+/]{16})\$([A-Za-z0-9+/]{86}==)$")


def verify(hash_text, password):
    """VerneMQ's (and mosquitto_passwd -H sha512's) $6$ check, or mosquitto 2's $7$."""
    f = hash_text.split("$")
    if f[1] == "6":
        salt, digest = base64.b64decode(f[2]), base64.b64decode(f[3])
        return hashlib.sha512(password.encode() + salt).digest() == digest
    it, salt, digest = int(f[2]), base64.b64decode(f[3]), base64.b64decode(f[4])
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, it, 64) == digest


class TestPasswdTool(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nmq-passwd-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.file = os.path.join(self.dir, "vmq.passwd")

    def tool(self, *args, stdin=""):
        return subprocess.run([TOOL, *args], input=stdin, capture_output=True, text=True,
                              timeout=30)

    def set_password(self, user, password, *flags):
        r = self.tool(*flags, self.file, user, stdin=password + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def lines(self):
        with open(self.file) as f:
            return f.read().splitlines()

    def users(self):
        """user -> hash, each line checked against VerneMQ's format."""
        out = {}
        for line in self.lines():
            m = LINE.match(line)
            self.assertTrue(m, "not a $6$ line: %r" % line)
            out[m.group(1)] = line.split(":", 1)[1]
        return out

    def test_create_update_delete(self):
        self.set_password("alice", "s3cret", "-c")
        self.assertEqual(stat.S_IMODE(os.stat(self.file).st_mode), 0o600)
        users = self.users()
        self.assertEqual(list(users), ["alice"])
        self.assertTrue(verify(users["alice"], "s3cret"))
        self.assertFalse(verify(users["alice"], "s3cret "))

        self.set_password("bob", "pass:with:colons $and spaces")
        before = self.users()
        self.assertEqual(list(before), ["alice", "bob"])
        self.assertTrue(verify(before["bob"], "pass:with:colons $and spaces"))

        # a new password for alice: a new salt, her line in place, bob's untouched
        self.set_password("alice", "n3w")
        after = self.users()
        self.assertEqual(list(after), ["alice", "bob"])
        self.assertTrue(verify(after["alice"], "n3w"))
        self.assertFalse(verify(after["alice"], "s3cret"))
        self.assertEqual(after["bob"], before["bob"])

        r = self.tool("-D", self.file, "alice")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(list(self.users()), ["bob"])

        # -c replaces the file
        self.set_password("carol", "c", "-c")
        self.assertEqual(list(self.users()), ["carol"])

    def test_same_password_twice_gives_two_salts(self):
        self.set_password("a", "same", "-c")
        self.set_password("b", "same")
        u = self.users()
        self.assertNotEqual(u["a"], u["b"])
        self.assertTrue(verify(u["a"], "same") and verify(u["b"], "same"))

    def test_non_ascii_password_and_crlf_on_stdin(self):
        r = self.tool("-c", self.file, "ünïcode", stdin="pässwörd\r\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(verify(self.users()["ünïcode"], "pässwörd"))

    def test_update_in_place_with_U(self):
        with open(self.file, "w") as f:
            f.write("# users\n\nalice:clear one\nbob:two:with:colons\n")
        self.set_password("hashed", "already")         # appended, already hashed
        hashed = self.lines()[-1]
        r = self.tool("-U", self.file)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = self.lines()
        self.assertEqual(lines[:2], ["# users", ""])
        self.assertEqual(lines[-1], hashed)              # not hashed twice
        users = self.users_ignoring_comments()
        self.assertTrue(verify(users["alice"], "clear one"))
        self.assertTrue(verify(users["bob"], "two:with:colons"))
        self.assertTrue(verify(users["hashed"], "already"))
        # again: nothing left to hash, nothing changes
        r = self.tool("-U", self.file)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.lines(), lines)

    def users_ignoring_comments(self):
        return {l.split(":", 1)[0]: l.split(":", 1)[1] for l in self.lines()
                if l and not l.startswith("#")}

    def test_U_refuses_a_bad_file_and_leaves_it(self):
        text = "alice:pw\nno colon here\n"
        with open(self.file, "w") as f:
            f.write(text)
        r = self.tool("-U", self.file)
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 2", r.stderr)
        self.assertNotIn("pw", r.stderr.replace("passwd", ""))
        with open(self.file) as f:
            self.assertEqual(f.read(), text)

    def test_usage_errors_exit_2(self):
        for args in ([], ["-x", self.file, "u"], ["-c", self.file], ["-U"],
                     ["-U", self.file, "extra"], [self.file], ["a", "b", "c"]):
            r = self.tool(*args, stdin="pw\n")
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("Usage:", r.stderr)
        self.assertFalse(os.path.exists(self.file))

    def test_errors_exit_1_with_a_reason(self):
        r = self.tool(self.file, "alice", stdin="pw\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("No such file", r.stderr)
        self.assertIn("-c", r.stderr)
        for user, why in (("a:b", "':'"), ("#x", "comment"), (" a", "blank"), ("", "empty")):
            r = self.tool("-c", self.file, user, stdin="pw\n")
            self.assertEqual(r.returncode, 1, user)
            self.assertIn(why, r.stderr)
        for stdin, why in (("", "no password"), ("\n", "empty password")):
            r = self.tool("-c", self.file, "alice", stdin=stdin)
            self.assertEqual(r.returncode, 1)
            self.assertIn(why, r.stderr)
        self.assertFalse(os.path.exists(self.file))
        r = self.tool("-c", os.path.join(self.dir, "no", "such", "dir"), "alice", stdin="pw\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("temporary file", r.stderr)

    def test_delete_unknown_user_warns_and_keeps_the_file(self):
        self.set_password("alice", "pw", "-c")
        before = os.stat(self.file)
        r = self.tool("-D", self.file, "nobody")
        self.assertEqual(r.returncode, 0)               # as vmq-passwd
        self.assertIn("not found", r.stderr)
        self.assertEqual(os.stat(self.file).st_ino, before.st_ino)

    def test_replaced_atomically_keeping_mode_and_symlink(self):
        self.set_password("alice", "pw", "-c")
        os.chmod(self.file, 0o640)
        inode = os.stat(self.file).st_ino
        self.set_password("bob", "pw")
        st = os.stat(self.file)
        self.assertNotEqual(st.st_ino, inode)            # a new file renamed over the old
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual(sorted(os.listdir(self.dir)), ["vmq.passwd"])   # no temp left
        link = os.path.join(self.dir, "link.passwd")
        os.symlink("vmq.passwd", link)
        r = self.tool(link, "carol", stdin="pw\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.islink(link))
        self.assertIn("carol", self.users())

    def test_file_written_by_mosquitto_passwd(self):
        mp = shutil.which("mosquitto_passwd")
        if not mp:
            self.skipTest("mosquitto_passwd not installed")
        subprocess.run([mp, "-c", "-b", self.file, "m7", "seven"], check=True)
        subprocess.run([mp, "-H", "sha512", "-b", self.file, "m6", "six"], check=True)
        before = self.lines()
        self.set_password("ours", "pw")
        self.set_password("m6", "changed")
        lines = self.lines()
        self.assertEqual(lines[0], before[0])            # mosquitto's $7$ line untouched
        users = self.users_ignoring_comments()
        self.assertTrue(verify(users["m7"], "seven"))
        self.assertTrue(verify(users["m6"], "changed"))
        self.assertTrue(LINE.match(lines[1]) and LINE.match(lines[2]))
        r = self.tool("-U", self.file)                   # $7$ counts as hashed
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.lines(), lines)


if __name__ == "__main__":
    unittest.main()
