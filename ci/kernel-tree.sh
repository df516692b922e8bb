#!/usr/bin/env bash
# Manage the Memorizer kernel tree under build/linux.
#
# The tree is a git repository whose root commit is Debian's pristine
# linux-source-6.12, tagged "pristine" (a local commit tagged "base" only
# drops Debian's ignore-everything rule).  patches/ is applied on top with
# "git am" in patches/series order; developers edit and commit in the tree,
# then "export" writes the commits back to patches/.  Patch files are never
# edited by hand.
#
#   kernel-tree.sh prepare   extract (once) and apply patches/ (idempotent)
#   kernel-tree.sh reapply   reset the tree to base and apply patches/ again
#   kernel-tree.sh export    write base..HEAD back to patches/ and series
#   kernel-tree.sh status    show the base version and applied patches
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tree=${KERNEL_TREE:-$top/build/linux}
patches=${PATCHES_DIR:-$top/patches}
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
# The upstream version the series was made on; written by "export".
base_file=$patches/BASE

say() { printf '[kernel-tree] %s\n' "$*" >&2; }
die() { printf '[kernel-tree] error: %s\n' "$*" >&2; exit 1; }

git_tree() {
	git -C "$tree" -c user.name="Memorizer build" \
		-c user.email=build@memorizer.invalid "$@"
}

# "6.12.57", read from a tree's top-level Makefile.
tree_version_of() {
	local mk=$1/Makefile
	printf '%s.%s.%s\n' "$(sed -n 's/^VERSION = //p' "$mk")" \
		"$(sed -n 's/^PATCHLEVEL = //p' "$mk")" "$(sed -n 's/^SUBLEVEL = //p' "$mk")"
}

tree_version() { tree_version_of "$tree"; }

extract() {
	[ -f "$tarball" ] || die "$tarball not found: install Debian's linux-source-6.12 (make deps)"
	say "extracting $(basename "$tarball") into $tree (once; about a minute)"
	rm -rf "$tree.tmp"
	mkdir -p "$tree.tmp"
	tar -xf "$tarball" -C "$tree.tmp" --strip-components=1
	git -C "$tree.tmp" init -q -b pristine-base
	# -f: Debian's .gitignore ends with "/*", which would hide the tarball's
	# own files; "pristine" is the tarball exactly.
	git -C "$tree.tmp" add -A -f
	git -C "$tree.tmp" -c user.name="Debian" -c user.email=debian@memorizer.invalid \
		commit -q -m "Debian linux-source-6.12 $(tree_version_of "$tree.tmp") (pristine)"
	git -C "$tree.tmp" tag pristine
	# "base" drops that rule, so that files a patch adds (mm/memorizer/...)
	# show up in git status.  It is local to the work tree, not part of the
	# series, which applies to the plain Debian source as well.
	sed -i '/^# Debian packaging: ignore everything/,$d' "$tree.tmp/.gitignore"
	sed -i '${/^#$/d}' "$tree.tmp/.gitignore"
	git -C "$tree.tmp" -c user.name="Memorizer build" -c user.email=build@memorizer.invalid \
		commit -q -a -m "Work tree setup: stop ignoring new top-level files"
	git -C "$tree.tmp" tag base
	git -C "$tree.tmp" checkout -q -b memorizer
	mv "$tree.tmp" "$tree"
}

series() {
	[ -f "$patches/series" ] || return 0
	grep -v -e '^#' -e '^[[:space:]]*$' "$patches/series"
}

check_base() {
	local want have
	[ -f "$base_file" ] || return 0
	want=$(cat "$base_file")
	have=$(tree_version)
	if [ "$want" != "$have" ]; then
		say "warning: the series was made on $want, this tree is $have;" \
			"patches may need refreshing (fix, then 'make export-patches')"
	fi
}

# Apply every patch of the series that is not yet in the tree.  A tree
# whose history is not a prefix of the series was edited by a developer:
# leave it alone unless asked to reapply.
apply_series() {
	local applied=() subj p i=0
	mapfile -t applied < <(git_tree log --reverse --format=%s base..HEAD)
	while read -r p; do
		[ -n "$p" ] || continue
		[ -f "$patches/$p" ] || die "patches/series names $p, which does not exist"
		# mailinfo unfolds long subjects and drops the [PATCH] prefix, as git am does.
		subj=$(git mailinfo /dev/null /dev/null <"$patches/$p" | sed -n 's/^Subject: //p')
		if [ $i -lt ${#applied[@]} ]; then
			[ "${applied[$i]}" = "$subj" ] ||
				die "tree commit $((i + 1)) is '${applied[$i]}' but series has $p; run 'make kernel-reapply' or export your work"
			i=$((i + 1))
			continue
		fi
		say "applying $p"
		if ! git_tree am -q --keep-cr "$patches/$p"; then
			git_tree am --abort || true
			die "patch $p does not apply on $(tree_version); fix it in $tree and export"
		fi
		i=$((i + 1))
	done < <(series)
	if [ $i -lt ${#applied[@]} ]; then
		say "note: the tree has $(( ${#applied[@]} - i )) commit(s) beyond patches/series (unexported work)"
	fi
}

cmd_prepare() {
	[ -d "$tree/.git" ] || extract
	check_base
	apply_series
}

cmd_reapply() {
	[ -d "$tree/.git" ] || extract
	git_tree am --abort >/dev/null 2>&1 || true
	git_tree checkout -q -B memorizer base
	git_tree reset -q --hard base
	check_base
	apply_series
}

cmd_export() {
	[ -d "$tree/.git" ] || die "no tree at $tree: run 'make kernel-tree' first"
	[ -z "$(git_tree status --porcelain --untracked-files=no)" ] ||
		die "uncommitted changes in $tree: commit them first"
	rm -f "$patches"/*.patch
	git_tree format-patch -q --no-signature --zero-commit --no-numbered \
		-o "$patches" base..HEAD
	(
		echo "# Applied in this order on Debian's linux-source-6.12 by ci/kernel-tree.sh."
		cd "$patches" && ls -1 -- *.patch 2>/dev/null
	) > "$patches/series"
	tree_version > "$base_file"
	say "exported $(series | wc -l) patch(es) to patches/ (base $(cat "$base_file"))"
}

cmd_status() {
	[ -d "$tree/.git" ] || die "no tree at $tree"
	echo "base: $(tree_version) (series made on $(cat "$base_file" 2>/dev/null || echo unknown))"
	git_tree log --oneline --reverse base..HEAD
}

case "${1:-}" in
prepare) cmd_prepare ;;
reapply) cmd_reapply ;;
export) cmd_export ;;
status) cmd_status ;;
*) die "usage: $0 prepare|reapply|export|status" ;;
esac
