module downward-webhook.invalid/tools/images/pause

go 1.22
