# vmctl tiny guest: read the subset of #cloud-config that vmctl writes
# (PyYAML block style): hostname, ssh_authorized_keys, ssh_keys.ed25519_*,
# and users (mapping entries: name, ssh_authorized_keys, shell).
# Writes OUT/hostname, OUT/authorized_keys, OUT/ed25519_private, OUT/ed25519_public,
# and for users: OUT/users (one validated name a line, in order, no duplicates),
# OUT/user.NAME.authorized_keys (one key a line) and OUT/user.NAME.shell (one line).
# Only names matching ^[a-z_][a-z0-9_-]{0,31}$ other than root are written; any
# other entry is skipped with a "vmctl-guest: warning" line on stdout (the console).
# The "default" string entry and unsupported keys (sudo, groups, ...) are ignored.

function unquote(v) {
    sub(/[ \t]+$/, "", v)
    if (v ~ /^'.*'$/) {
        v = substr(v, 2, length(v) - 2)
        gsub(/''/, "'", v)
    } else if (v ~ /^".*"$/) {
        v = substr(v, 2, length(v) - 2)
    }
    return v
}

function indent(s) {
    match(s, /^ */)
    return RLENGTH
}

function put(name, value) {
    print value > (OUT "/" name)
}

function warn(msg) {
    print "vmctl-guest: warning " msg
}

# Seed data shown on the console: printable, short, no control characters.
function shown(s) {
    gsub(/[^-A-Za-z0-9._@+]/, "?", s)
    if (length(s) > 40) { s = substr(s, 1, 40) "..." }
    return "'" s "'"
}

# ^[a-z_][a-z0-9_-]{0,31}$ without interval expressions (old mawk lacks them).
function valid_user(n) {
    return n ~ /^[a-z_][-a-z0-9_]*$/ && length(n) <= 32 && n != "root"
}

# One entry of the users list: u_in (inside an entry), u_map (a mapping entry),
# u_mind (indent of its keys, -1 until seen), u_sub (its key whose nested lines
# follow), u_hasname, u_name, u_shell, u_nkeys and u_key[1..u_nkeys].
function user_begin() {
    u_in = 1; u_map = 1; u_mind = -1; u_sub = ""
    u_hasname = 0; u_name = ""; u_shell = ""; u_nkeys = 0
}

function user_key(key, value) {
    u_sub = key
    if (key == "name") {
        u_hasname = 1
        u_name = unquote(value)
    } else if (key == "shell") {
        u_shell = unquote(value)
    } else if (key == "ssh_authorized_keys" && value != "" && value != "[]") {
        warn("users: ssh_authorized_keys must be a block list, ignored")
    }
}

function user_end(    i, f) {
    if (!u_in) { return }
    u_in = 0
    if (!u_map) { return }
    if (!u_hasname || u_name == "") { warn("users: skipping an entry without a name"); return }
    if (!valid_user(u_name)) { warn("users: skipping invalid user name " shown(u_name)); return }
    if (u_name in u_seen) { warn("users: skipping duplicate user " shown(u_name)); return }
    u_seen[u_name] = 1
    print u_name > (OUT "/users")
    if (u_shell != "") {
        f = OUT "/user." u_name ".shell"
        print u_shell > f
        close(f)
    }
    if (u_nkeys > 0) {
        f = OUT "/user." u_name ".authorized_keys"
        for (i = 1; i <= u_nkeys; i++) { print u_key[i] > f }
        close(f)
    }
}

# A line of the top-level users list (a list item, or indented).
function user_line(line, ind,    rest, col, item) {
    if (line ~ /^ *-( |$)/ && (u_list < 0 || ind == u_list)) {
        u_list = ind
        user_end()
        user_begin()
        rest = substr(line, ind + 2)
        col = ind + 1 + indent(rest)
        rest = substr(rest, indent(rest) + 1)
        if (rest == "") { return }
        if (match(rest, /^[A-Za-z0-9_-]+:( |$)/)) {
            u_mind = col
            item = substr(rest, 1, RLENGTH)
            sub(/: ?$/, "", item)
            rest = substr(rest, RLENGTH + 1)
            sub(/^ +/, "", rest)
            user_key(item, rest)
            return
        }
        u_map = 0
        if (unquote(rest) != "default") { warn("users: skipping entry " shown(unquote(rest)) " (not a mapping)") }
        return
    }
    if (!u_in || !u_map || ind <= u_list) { return }
    if (u_mind < 0) { u_mind = ind }
    if (ind == u_mind && match(line, /^ *[A-Za-z0-9_-]+:( |$)/)) {
        item = substr(line, ind + 1, RLENGTH - ind)
        sub(/: ?$/, "", item)
        rest = substr(line, RLENGTH + 1)
        sub(/^ +/, "", rest)
        user_key(item, rest)
        return
    }
    if (u_sub == "ssh_authorized_keys" && ind >= u_mind && line ~ /^ *- /) {
        item = line
        sub(/^ *- +/, "", item)
        item = unquote(item)
        if (item != "") { u_key[++u_nkeys] = item }
    }
}

BEGIN { section = ""; block = ""; block_indent = -1; u_in = 0; u_list = -1 }

{
    line = $0
    sub(/\r$/, "", line)
    ind = indent(line)

    # Inside a literal block (|, |-, |+): lines indented deeper than the key.
    if (block != "") {
        if (line ~ /^ *$/) { next }
        if (ind > key_indent) {
            if (block_indent < 0) { block_indent = ind }
            put(block, substr(line, block_indent + 1))
            next
        }
        close(OUT "/" block)
        block = ""
        block_indent = -1
    }
    if (line ~ /^ *(#.*)?$/) { next }

    # A list item of ssh_authorized_keys (PyYAML writes it without indent).
    if (section == "ssh_authorized_keys" && line ~ /^ *- /) {
        item = line
        sub(/^ *- +/, "", item)
        put("authorized_keys", unquote(item))
        next
    }

    # Lines of the users list: its items ("- ...", without indent from PyYAML)
    # and everything indented under them.
    if (section == "users" && (ind > 0 || line ~ /^-( |$)/)) {
        user_line(line, ind)
        next
    }

    if (!match(line, /^ *[A-Za-z0-9_-]+:( |$)/)) { next }
    key = substr(line, ind + 1, RLENGTH - ind)
    sub(/: ?$/, "", key)
    value = substr(line, RLENGTH + 1)
    sub(/^ +/, "", value)

    if (ind == 0) {
        if (section == "users") { user_end() }
        section = ""
        if (key == "hostname" && value != "") { put("hostname", unquote(value)) }
        else if (key == "ssh_authorized_keys" || key == "ssh_keys") { section = key }
        else if (key == "users") {
            section = key
            u_list = -1
            if (value != "" && value != "[]") { warn("users: must be a block list, ignored") }
        }
        next
    }
    if (section == "ssh_keys" && (key == "ed25519_private" || key == "ed25519_public")) {
        if (value ~ /^\|[-+]?$/) {
            block = key
            key_indent = ind
            block_indent = -1
        } else if (value != "") {
            put(key, unquote(value))
        }
    }
}

END { if (section == "users") { user_end() } }
