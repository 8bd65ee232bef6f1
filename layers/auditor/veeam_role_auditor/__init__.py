"""veeam-role-auditor: checks that the Veeam Backup for AWS appliance can assume its roles, safely."""

__version__ = "0.1.0"
