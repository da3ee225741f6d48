# terraform init -backend-config=../envs/prod.backend.hcl (from terraform/stack)
bucket = "my-tabml-prod-tfstate" # the bootstrap's state_bucket output
prefix = "tabml/prod"
