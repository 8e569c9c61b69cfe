# vmctl tiny guest: read the subset of #cloud-config that vmctl writes
# (PyYAML block style): hostname, ssh_authorized_keys, ssh_keys.ed25519_*.
# Writes OUT/hostname, OUT/authorized_keys, OUT/ed25519_private, OUT/ed25519_public.

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

BEGIN { section = ""; block = ""; block_indent = -1 }

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

    if (!match(line, /^ *[A-Za-z0-9_-]+:( |$)/)) { next }
    key = substr(line, ind + 1, RLENGTH - ind)
    sub(/: ?$/, "", key)
    value = substr(line, RLENGTH + 1)
    sub(/^ +/, "", value)

    if (ind == 0) {
        section = ""
        if (key == "hostname" && value != "") { put("hostname", unquote(value)) }
        else if (key == "ssh_authorized_keys" || key == "ssh_keys") { section = key }
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
