"""債権管理: 調定, 消込, 督促, 分納, 時効, 不納欠損 and the ledgers (issue 11; docs/receivables.md)."""
