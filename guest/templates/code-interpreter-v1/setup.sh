#!/bin/sh
# Runs inside the template's root file system (chroot) after its packages are
# installed: the default user and what Cove's guest expects.
set -eu
# The default user, as in E2B's templates: uid 1000, home /home/user, sudo
# without a password.
if ! id user >/dev/null 2>&1; then
    useradd --create-home --uid 1000 --user-group --shell /bin/bash user
fi
passwd --delete user >/dev/null
usermod --append --groups sudo user
echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/user
chmod 0440 /etc/sudoers.d/user
# `pip install` works as on E2B: Debian marks its python as managed by apt
# (PEP 668) and pip would refuse; this lets it install, into ~/.local for
# `user` and into /usr/local for root. (`python -m venv` needs no such help.)
printf '[global]\nbreak-system-packages = true\n' > /etc/pip.conf
