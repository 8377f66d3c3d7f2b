#!/bin/sh
# The example application: a greeting and how this image was built.
cat "$GREETING_FILE"
sed 's/^/  /' /usr/share/hello/build-info.txt
