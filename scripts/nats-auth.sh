#!/usr/bin/env bash
# Prints the `authorization` block of a nats-server configuration for synmatch's identities,
# one user per TLS client certificate (the servers map a certificate to the user named by
# its subject: `tls { verify_and_map: true }`), each allowed only what its role needs
# (docs/SECURITY.md, "NATS JetStream"):
#
#   agent-SENSOR   publishes only its own sensor's record subjects (synmatch.rec.*.*.SENSOR),
#                  reads the records stream's description, and gets its replies on an inbox
#                  of its own (_SM_INBOX.SENSOR.>, the agents' inbox prefix)
#   shard-NAME     a collector shard: reads records through the partitions' consumers and its
#                  own replay consumer, publishes verdicts and events (synmatch.out.>) and the
#                  JetStream API calls those need, nothing else (it cannot publish records);
#                  replies on _SM_INBOX.shards.>
#   reader-NAME    synmatch tail: reads the verdict stream through a consumer of its own;
#                  replies on _SM_INBOX.readers.> (so it cannot read what shards fetch)
#   admin          synmatch-collector --nats-setup: every JetStream API call
#
#   scripts/nats-auth.sh agent-app-client agent-app-server shard-0 shard-1 reader-alice admin
#
# The user names are the certificates' subjects, "CN=<name>"; make each certificate with that
# common name (docs/DEPLOY.md shows openssl commands).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 IDENTITY..." >&2; exit 2; }

# read-side JetStream API calls: stream information and consumers of the verdict stream
read_api='"$JS.API.STREAM.INFO.*", "$JS.API.CONSUMER.INFO.SYNMATCH_OUT.*", "$JS.API.CONSUMER.CREATE.SYNMATCH_OUT", "$JS.API.CONSUMER.DELETE.SYNMATCH_OUT.*", "$JS.FC.>"'

echo "authorization {"
echo "  users: ["
for id in "$@"; do
    case "$id" in
        agent-*)
            s=${id#agent-}
            case "$s" in *[.*\>\ ]* | "") echo "$0: $id: a sensor id over NATS has no . * > or space" >&2; exit 2 ;; esac
            pub="\"synmatch.rec.*.*.$s\", \"\$JS.API.STREAM.INFO.SYNMATCH_RECORDS\""
            sub="\"_SM_INBOX.$s.>\""
            ;;
        shard-*)
            pub="$read_api"', "$JS.API.CONSUMER.DURABLE.CREATE.SYNMATCH_OUT.*", "synmatch.out.>", "$JS.API.CONSUMER.INFO.SYNMATCH_RECORDS.*", "$JS.API.CONSUMER.MSG.NEXT.SYNMATCH_RECORDS.*", "$JS.ACK.SYNMATCH_RECORDS.>", "$JS.API.CONSUMER.DURABLE.CREATE.SYNMATCH_RECORDS.*", "$JS.API.CONSUMER.DELETE.SYNMATCH_RECORDS.*", "$JS.API.STREAM.MSG.GET.SYNMATCH_RECORDS"'
            sub='"_SM_INBOX.shards.>", "synmatch.deliver.>"'
            ;;
        reader-*)
            pub="$read_api"
            sub='"_SM_INBOX.readers.>"'
            ;;
        admin)
            echo "    { user: \"CN=admin\" }"
            continue
            ;;
        *) echo "$0: $id: expected agent-*, shard-*, reader-* or admin" >&2; exit 2 ;;
    esac
    cat <<EOF
    { user: "CN=$id", permissions: {
        publish: { allow: [$pub] }
        subscribe: { allow: [$sub] } } }
EOF
done
echo "  ]"
echo "}"
