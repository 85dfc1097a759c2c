# What a CGI script sees of its request: argv, working directory and the whole
# environment, one NAME=value a line, sorted. Served both through the cgihost
# handler and directly by mod_cgi to compare the two.
import os
import sys

print("Content-Type: text/plain\n")
print("ARGV", [os.path.basename(sys.argv[0])] + sys.argv[1:])
print("ARGV0", sys.argv[0])
print("CWD", os.getcwd())
for k in sorted(os.environ):
    print(f"{k}={os.environ[k]}")
