#!/bin/sh
cat /app/artifact.txt
echo main ran
